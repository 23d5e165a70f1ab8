import type { Migration } from './migration.js';

/**
 * The node network (docs/network.md): how far each peer's log has been imported
 * (`peer_cursors`, moved in the transaction of each import), the peers' node profiles
 * (`network_peers`), servers added at run time (`network_servers`), and a channel's
 * replicated name when it is known locally under another one (`channels.origin_name`, NULL
 * when the two are the same; see "Channel names" in docs/network.md).
 */
export const network: Migration = {
  version: 5,
  name: 'network',
  sqlite: `
CREATE TABLE peer_cursors (
  peer_node_id TEXT PRIMARY KEY,
  serial INTEGER NOT NULL CHECK (serial >= 0),
  hash TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE network_peers (
  node_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  first_seen_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL
) STRICT;

CREATE TABLE network_servers (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  password TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('child', 'parent', 'both')),
  transport TEXT NOT NULL CHECK (transport IN ('auto', 'websocket', 'sse')),
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX network_servers_created_at_id ON network_servers (created_at, id);

ALTER TABLE channels ADD COLUMN origin_name TEXT;
`,
  postgres: `
CREATE TABLE peer_cursors (
  peer_node_id TEXT PRIMARY KEY,
  serial BIGINT NOT NULL CHECK (serial >= 0),
  hash TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE network_peers (
  node_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  first_seen_at BIGINT NOT NULL,
  last_seen_at BIGINT NOT NULL
);

CREATE TABLE network_servers (
  id TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  password TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('child', 'parent', 'both')),
  transport TEXT NOT NULL CHECK (transport IN ('auto', 'websocket', 'sse')),
  created_at BIGINT NOT NULL
);
CREATE INDEX network_servers_created_at_id ON network_servers (created_at, id);

ALTER TABLE channels ADD COLUMN origin_name TEXT;
`,
};
