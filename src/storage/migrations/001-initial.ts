import type { Migration } from './migration.js';

/**
 * The first schema: node, content (channels, posts, links), the change log and its head,
 * sessions and client nodes. Times are integer milliseconds. SQLite tables are STRICT so a
 * value of the wrong type is refused instead of silently stored.
 */
export const initial: Migration = {
  version: 1,
  name: 'initial',
  sqlite: `
CREATE TABLE node (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  owner_password_hash TEXT,
  -- At most one row: every row must carry 1 here, and it is unique.
  single_row INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (single_row = 1)
) STRICT;

CREATE TABLE channels (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  namespace TEXT NOT NULL,
  description TEXT NOT NULL,
  origin_node_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_seq INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
) STRICT;
CREATE INDEX channels_created_at_id ON channels (created_at, id);

CREATE TABLE posts (
  id TEXT PRIMARY KEY,
  channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL CHECK (seq > 0),
  author TEXT NOT NULL,
  body TEXT NOT NULL,
  meta TEXT NOT NULL,
  blob_refs TEXT NOT NULL,
  origin_node_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  edited INTEGER NOT NULL CHECK (edited IN (0, 1)),
  deleted INTEGER NOT NULL CHECK (deleted IN (0, 1)),
  UNIQUE (channel_id, seq)
) STRICT;

CREATE TABLE links (
  id TEXT PRIMARY KEY,
  from_post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  to_post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  label TEXT NOT NULL,
  origin_node_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (from_post_id, to_post_id, label)
) STRICT;
-- from_post_id is served by the unique index; the cascade and listLinks also look up by target.
CREATE INDEX links_to_post_id ON links (to_post_id);

CREATE TABLE changes (
  serial INTEGER PRIMARY KEY CHECK (serial > 0),
  origin_node_id TEXT NOT NULL,
  origin_serial INTEGER NOT NULL CHECK (origin_serial > 0),
  type TEXT NOT NULL,
  payload_version INTEGER NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  UNIQUE (origin_node_id, origin_serial)
) STRICT;

CREATE TABLE change_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  serial INTEGER NOT NULL,
  hash TEXT NOT NULL
) STRICT;
INSERT INTO change_head (id, serial, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  subject_kind TEXT NOT NULL CHECK (subject_kind IN ('owner', 'node')),
  subject_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE client_nodes (
  id TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  as_owner INTEGER NOT NULL CHECK (as_owner IN (0, 1)),
  created_at INTEGER NOT NULL
) STRICT;
`,
  postgres: `
CREATE TABLE node (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  owner_password_hash TEXT,
  -- At most one row: every row must carry TRUE here, and it is unique.
  single_row BOOLEAN NOT NULL DEFAULT TRUE UNIQUE CHECK (single_row)
);

CREATE TABLE channels (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  namespace TEXT NOT NULL,
  description TEXT NOT NULL,
  origin_node_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  last_seq BIGINT NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);
CREATE INDEX channels_created_at_id ON channels (created_at, id);

CREATE TABLE posts (
  id TEXT PRIMARY KEY,
  channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  seq BIGINT NOT NULL CHECK (seq > 0),
  author TEXT NOT NULL,
  body TEXT NOT NULL,
  meta TEXT NOT NULL,
  blob_refs TEXT NOT NULL,
  origin_node_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  edited BOOLEAN NOT NULL,
  deleted BOOLEAN NOT NULL,
  UNIQUE (channel_id, seq)
);

CREATE TABLE links (
  id TEXT PRIMARY KEY,
  from_post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  to_post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  label TEXT NOT NULL,
  origin_node_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (from_post_id, to_post_id, label)
);
-- from_post_id is served by the unique index; the cascade and listLinks also look up by target.
CREATE INDEX links_to_post_id ON links (to_post_id);

-- payload is TEXT, never JSONB: the hash chain covers the exact text, and JSONB would reorder it.
CREATE TABLE changes (
  serial BIGINT PRIMARY KEY CHECK (serial > 0),
  origin_node_id TEXT NOT NULL,
  origin_serial BIGINT NOT NULL CHECK (origin_serial > 0),
  type TEXT NOT NULL,
  payload_version INTEGER NOT NULL,
  payload TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  UNIQUE (origin_node_id, origin_serial)
);

CREATE TABLE change_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  serial BIGINT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO change_head (id, serial, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  subject_kind TEXT NOT NULL CHECK (subject_kind IN ('owner', 'node')),
  subject_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE client_nodes (
  id TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  as_owner BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL
);
`,
};
