import type { Migration } from './migration.js';

/**
 * Idempotency keys of posts: a retried write that carries the key of a post already committed in
 * the same channel gets that post back instead of a second one. The key lives as long as its post
 * (the row goes with it) and is written in the post's own transaction, so exactly-once holds
 * across restarts and across instances sharing the database.
 */
export const idempotencyKeys: Migration = {
  version: 2,
  name: 'idempotency-keys',
  sqlite: `
CREATE TABLE post_idempotency_keys (
  channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  PRIMARY KEY (channel_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX post_idempotency_keys_post_id ON post_idempotency_keys (post_id);
`,
  postgres: `
CREATE TABLE post_idempotency_keys (
  channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  PRIMARY KEY (channel_id, key)
);
CREATE INDEX post_idempotency_keys_post_id ON post_idempotency_keys (post_id);
`,
};
