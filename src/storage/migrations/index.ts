import { MycelError } from '../../errors.js';
import { initial } from './001-initial.js';
import { idempotencyKeys } from './002-idempotency-keys.js';
import { clientNodePermissions } from './003-client-node-permissions.js';
import { streamEvents } from './004-stream-events.js';
import { network } from './005-network.js';
import { blobs } from './006-blobs.js';
import { compute } from './007-compute.js';
import { computeResultBlobs } from './008-compute-result-blobs.js';
import type { Migration } from './migration.js';

export type { Migration } from './migration.js';

/** Every migration, in the order it is applied; versions run 1, 2, 3… */
export const MIGRATIONS: readonly Migration[] = [initial, idempotencyKeys, clientNodePermissions, streamEvents, network, blobs, compute, computeResultBlobs];

/** The schema version this code expects. */
export const CURRENT_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The bookkeeping table both dialects create before applying anything. */
export const SCHEMA_MIGRATIONS_DDL = {
  sqlite: `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at INTEGER NOT NULL
) STRICT`,
  postgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`,
} as const;

/**
 * The migrations still to apply, given the versions the database records. Throws
 * SCHEMA_TOO_NEW when the database holds a version this code does not know, so an older
 * Mycel never writes into a schema it does not understand.
 */
export function pendingMigrations(appliedVersions: readonly number[]): Migration[] {
  const databaseVersion = appliedVersions.reduce((max, v) => Math.max(max, v), 0);
  const known = new Set(MIGRATIONS.map((m) => m.version));
  if (databaseVersion > CURRENT_SCHEMA_VERSION || appliedVersions.some((v) => !known.has(v))) {
    throw new MycelError('SCHEMA_TOO_NEW', { databaseVersion, codeVersion: CURRENT_SCHEMA_VERSION });
  }
  const applied = new Set(appliedVersions);
  return MIGRATIONS.filter((m) => !applied.has(m.version));
}
