import type { Migration } from './migration.js';

/**
 * What a registered client node may do: its data role (child, parent or both), whether writes it
 * forwards are accepted, and which channels it may pull and write (a JSON array of names and
 * `namespace:*` patterns; empty means all). Nodes registered before this migration (the
 * configured remote owner node) keep what they could do: both roles, read-write, every channel.
 */
export const clientNodePermissions: Migration = {
  version: 3,
  name: 'client-node-permissions',
  sqlite: `
ALTER TABLE client_nodes ADD COLUMN role TEXT NOT NULL DEFAULT 'both' CHECK (role IN ('child', 'parent', 'both'));
ALTER TABLE client_nodes ADD COLUMN write_access TEXT NOT NULL DEFAULT 'read-write' CHECK (write_access IN ('read-only', 'read-write'));
ALTER TABLE client_nodes ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE client_nodes ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE client_nodes SET updated_at = created_at;
CREATE INDEX sessions_subject ON sessions (subject_kind, subject_id);
`,
  postgres: `
ALTER TABLE client_nodes ADD COLUMN role TEXT NOT NULL DEFAULT 'both' CHECK (role IN ('child', 'parent', 'both'));
ALTER TABLE client_nodes ADD COLUMN write_access TEXT NOT NULL DEFAULT 'read-write' CHECK (write_access IN ('read-only', 'read-write'));
ALTER TABLE client_nodes ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';
ALTER TABLE client_nodes ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE client_nodes SET updated_at = created_at;
CREATE INDEX sessions_subject ON sessions (subject_kind, subject_id);
`,
};
