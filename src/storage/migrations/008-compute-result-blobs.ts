import type { Migration } from './migration.js';

/**
 * The blob read rule asks whether a blob is a compute job's result (a node session may read
 * those): an index on the jobs' result blobs, so the check is a lookup, not a scan of every job.
 */
export const computeResultBlobs: Migration = {
  version: 8,
  name: 'compute-result-blobs',
  sqlite: `CREATE INDEX compute_jobs_result_blob ON compute_jobs (result_blob_sha256) WHERE result_blob_sha256 IS NOT NULL;`,
  postgres: `CREATE INDEX compute_jobs_result_blob ON compute_jobs (result_blob_sha256) WHERE result_blob_sha256 IS NOT NULL;`,
};
