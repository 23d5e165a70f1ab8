import type { Migration } from './migration.js';

/**
 * Blobs (docs/blobs.md): the record of each stored blob (`blobs`, replicated as `blob.stored`),
 * which posts refer to which blob URI (`post_blob_refs`, derived from `posts.blob_refs` by the
 * storage on every post insert and update, so the Operator and apply keep it alike; filled here
 * from the posts already stored), and local pins that keep a blob from GC (`blob_pins`).
 */
export const blobs: Migration = {
  version: 6,
  name: 'blobs',
  sqlite: `
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY,
  sha1 TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL CHECK (size >= 0),
  media_type TEXT,
  uploaded_by TEXT NOT NULL,
  origin_node_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX blobs_created_at_sha256 ON blobs (created_at, sha256);

CREATE TABLE post_blob_refs (
  post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  uri TEXT NOT NULL,
  PRIMARY KEY (post_id, uri)
) STRICT;
CREATE INDEX post_blob_refs_uri ON post_blob_refs (uri);
INSERT OR IGNORE INTO post_blob_refs (post_id, uri) SELECT posts.id, j.value FROM posts, json_each(posts.blob_refs) AS j;

CREATE TABLE blob_pins (
  sha256 TEXT PRIMARY KEY,
  pinned_by TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
`,
  postgres: `
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY,
  sha1 TEXT NOT NULL UNIQUE,
  size BIGINT NOT NULL CHECK (size >= 0),
  media_type TEXT,
  uploaded_by TEXT NOT NULL,
  origin_node_id TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX blobs_created_at_sha256 ON blobs (created_at, sha256);

CREATE TABLE post_blob_refs (
  post_id TEXT NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  uri TEXT NOT NULL,
  PRIMARY KEY (post_id, uri)
);
CREATE INDEX post_blob_refs_uri ON post_blob_refs (uri);
INSERT INTO post_blob_refs (post_id, uri) SELECT DISTINCT posts.id, j.value FROM posts, jsonb_array_elements_text(posts.blob_refs::jsonb) AS j(value);

CREATE TABLE blob_pins (
  sha256 TEXT PRIMARY KEY,
  pinned_by TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
`,
};
