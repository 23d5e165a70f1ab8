import type { Migration } from './migration.js';

/**
 * The event stream of each channel: every post creation, edit and delete is an event with the
 * next offset of its channel (gapless, written in the operation's transaction), holding the
 * post's mutable fields as that event left them and the publisher's client info when a
 * realtime client wrote it. Realtime history and recovery of persisted namespaces read it.
 * Existing posts become one event each at offset = seq (their current state), so positions
 * that clients held before (offset = seq) stay valid.
 */
export const streamEvents: Migration = {
  version: 4,
  name: 'stream-events',
  sqlite: `
CREATE TABLE stream_events (
  channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  stream_offset INTEGER NOT NULL CHECK (stream_offset > 0),
  post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  body TEXT,
  meta TEXT,
  blob_refs TEXT,
  updated_at INTEGER NOT NULL,
  edited INTEGER NOT NULL CHECK (edited IN (0, 1)),
  deleted INTEGER NOT NULL CHECK (deleted IN (0, 1)),
  publisher TEXT,
  PRIMARY KEY (channel_id, stream_offset)
) STRICT, WITHOUT ROWID;
CREATE INDEX stream_events_post_id ON stream_events (post_id, stream_offset);
INSERT INTO stream_events (channel_id, stream_offset, post_id, updated_at, edited, deleted, publisher)
  SELECT channel_id, seq, id, updated_at, edited, deleted, NULL FROM posts;
`,
  postgres: `
CREATE TABLE stream_events (
  channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  stream_offset BIGINT NOT NULL CHECK (stream_offset > 0),
  post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  body TEXT,
  meta TEXT,
  blob_refs TEXT,
  updated_at BIGINT NOT NULL,
  edited BOOLEAN NOT NULL,
  deleted BOOLEAN NOT NULL,
  publisher TEXT,
  PRIMARY KEY (channel_id, stream_offset)
);
CREATE INDEX stream_events_post_id ON stream_events (post_id, stream_offset);
INSERT INTO stream_events (channel_id, stream_offset, post_id, updated_at, edited, deleted, publisher)
  SELECT channel_id, seq, id, updated_at, edited, deleted, NULL FROM posts;
`,
};
