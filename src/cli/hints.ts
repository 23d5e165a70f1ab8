import type { MycelError } from '../errors.js';

/**
 * What to do about an error that stops a command: one line printed after it as `hint: …`.
 * Keyed by code, so a code means the same advice wherever it is raised; a few read the
 * error's details to be more precise. Never repeats a value that may be a secret.
 */

const detail = (err: MycelError, key: string): string | undefined => {
  const value = err.details?.[key];
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
};

const HINTS: Partial<Record<MycelError['code'], (err: MycelError) => string>> = {
  CONFIG_INVALID: () => 'fix the setting named above; docs/config.md lists every key with its variable and flag, `mycel config` shows what is in effect',
  CONFIG_ENV_MISSING: (err) => `set ${detail(err, 'variable') ?? 'the variable'}, or give it a default in the file: \${NAME:-default}`,
  CONFIG_FILE_UNREADABLE: () => 'check the path given by --config or MYCEL_CONFIG, and the YAML at the place shown',
  OWNER_PASSWORD_MISMATCH: () =>
    'owner.password (MYCEL_OWNER_PASSWORD) only sets the first password: unset it, or set it to the current one; to change the password run `mycel owner set-password` (docs/owner.md)',
  SCHEMA_TOO_NEW: () => 'run the newer Mycel that migrated this database (or restore a backup made before it did)',
  STORAGE_UNAVAILABLE: (err) => {
    const reason = `${detail(err, 'reason') ?? ''} ${err.cause instanceof Error ? err.cause.message : ''}`;
    if (/does not support SSL/i.test(reason)) {
      return 'the PostgreSQL server does not accept TLS: remove sslmode=require from database.url, or enable TLS (ssl = on) on the server';
    }
    return 'check database.url (MYCEL_DATABASE_URL, --database-url) and that the database server runs and is reachable; for SQLite, that the data directory is writable';
  },
  REDIS_UNAVAILABLE: () => 'check realtime.redisUrl (MYCEL_REDIS_URL) and that Redis runs and is reachable',
  NODE_NOT_INITIALIZED: () =>
    'check --data-dir / MYCEL_DATA_DIR (or database.url): a typo points at an empty place; to create a node there, run `mycel init`',
  CHANGE_LOG_BROKEN: () => 'the database was changed outside Mycel or damaged; restore it from a backup made before the first bad serial',
  PORT_IN_USE: (err) =>
    `another process listens on ${detail(err, 'host') ?? 'that address'} port ${detail(err, 'port') ?? ''}: stop it, or choose another port with --port (or MYCEL_PORT, server.port); --port 0 picks a free one`,
  LISTEN_FAILED: () => 'check --host and --port (server.host, server.port): ports below 1024 need privileges, and the host must be an address of this machine',
  DATA_DIR_LOCKED: () =>
    'another `mycel serve` is running on this data directory: stop it first. Several instances of one node need PostgreSQL (database.url) and Redis (realtime.redisUrl)',
  INVALID_CREDENTIALS: () => 'the current owner password is not correct; if it is lost, run `mycel owner set-password --recover` (docs/owner.md)',
  NODE_EXISTS: () => 'a node with this id is registered: `mycel nodes list` shows it, `mycel nodes set` changes it',
  NODE_NOT_FOUND: () => '`mycel nodes list` shows the registered node ids; `mycel nodes add` registers one',
  VALIDATION_FAILED: () => 'see the message above for the value that is not accepted',
};

/** The hint for an error with a code. */
export function hintFor(err: MycelError): string {
  return HINTS[err.code]?.(err) ?? `docs/errors.md explains ${err.code}`;
}

/** The hint for a failure without a code: a bug, since every expected failure has one. */
export const INTERNAL_HINT = 'this is a bug in Mycel; please report it with the command you ran (MYCEL_LOG_LEVEL=debug also prints where it happened)';
