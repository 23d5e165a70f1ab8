import type { Migration } from './migration.js';

/**
 * Federated compute, node side (docs/compute.md "Node side"): projects (a name is unique per
 * origin node, so two nodes configured alike each keep their own; token_hash is local:
 * the sha256 of the configured token, for lookup; NULL when the configuration no longer names
 * the project), invitations (local, never replicated), clients (last_seen_at local), jobs and
 * their tasks (replicated whole). JSON values are text. The lease query reads a client's queued
 * or expired tasks oldest first: compute_tasks_lease serves it.
 */
function ddl(int: 'INTEGER' | 'BIGINT', strict: string): string {
  return `
CREATE TABLE compute_projects (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT UNIQUE,
  small_cell_k ${int} NOT NULL DEFAULT 10,
  origin_node_id TEXT NOT NULL,
  created_at ${int} NOT NULL,
  UNIQUE (origin_node_id, name)
)${strict};

CREATE TABLE compute_invitations (
  id TEXT PRIMARY KEY,
  secret_hash TEXT NOT NULL UNIQUE,
  created_by TEXT NOT NULL,
  created_at ${int} NOT NULL,
  expires_at ${int} NOT NULL,
  used_at ${int},
  used_by TEXT
)${strict};

CREATE TABLE compute_clients (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  public_key TEXT NOT NULL UNIQUE,
  datasources TEXT NOT NULL,
  joined_at ${int} NOT NULL,
  origin_node_id TEXT NOT NULL,
  last_seen_at ${int}
)${strict};

CREATE TABLE compute_jobs (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL REFERENCES compute_projects (id),
  datasource TEXT NOT NULL,
  plan TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'partial')),
  round ${int} NOT NULL CHECK (round >= 1),
  max_attempts ${int} NOT NULL CHECK (max_attempts >= 1),
  lease_seconds ${int} NOT NULL CHECK (lease_seconds >= 1),
  submitted_by TEXT NOT NULL,
  origin_node_id TEXT NOT NULL,
  created_at ${int} NOT NULL,
  updated_at ${int} NOT NULL,
  result TEXT,
  result_blob_sha256 TEXT,
  error TEXT
)${strict};
CREATE INDEX compute_jobs_project ON compute_jobs (project_id, created_at, id);
CREATE INDEX compute_jobs_status ON compute_jobs (status, created_at, id);

CREATE TABLE compute_tasks (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES compute_jobs (id),
  round ${int} NOT NULL CHECK (round >= 1),
  client_id TEXT NOT NULL,
  datasource TEXT NOT NULL,
  input TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'leased', 'done', 'failed')),
  lease_id TEXT,
  lease_expires_at ${int},
  attempts ${int} NOT NULL CHECK (attempts >= 0),
  output TEXT,
  error TEXT,
  created_at ${int} NOT NULL,
  updated_at ${int} NOT NULL,
  UNIQUE (job_id, round, client_id)
)${strict};
CREATE INDEX compute_tasks_lease ON compute_tasks (client_id, status, created_at, id);
`;
}

export const compute: Migration = {
  version: 7,
  name: 'compute',
  sqlite: ddl('INTEGER', ' STRICT'),
  postgres: ddl('BIGINT', ''),
};
