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
  BACKUP_TARGET_EXISTS: () => 'choose another file name, or add --force to replace it',
  BACKUP_INVALID: () => 'check the file name; restore from another backup if this one is damaged',
  BACKUP_UNSUPPORTED: () => 'back up PostgreSQL with pg_dump and restore with pg_restore (docs/operations.md, "Backup and restore")',
  DATA_DIR_LOCKED: () =>
    'another `mycel serve` is running on this data directory: stop it first. Several instances of one node need PostgreSQL (database.url) and Redis (realtime.redisUrl)',
  INVALID_CREDENTIALS: (err) => {
    const url = detail(err, 'url');
    if (url === undefined) return 'the current owner password is not correct; if it is lost, run `mycel owner set-password --recover` (docs/owner.md)';
    if (detail(err, 'loginAs')?.startsWith('node ')) {
      return `the node id is not registered at ${url}, or MYCEL_NODE_PASSWORD (or the password given) is not its password there`;
    }
    return `the owner password of ${url} is not correct: check MYCEL_OWNER_PASSWORD (or the password given); a lost one is reset on that node with \`mycel owner set-password --recover\``;
  },
  RATE_LIMITED: (err) =>
    `wait ${detail(err, 'retryAfterSeconds') ?? 'a minute'} s; each command run with --node logs in once, and the node allows server.loginAttemptsPerMinute log-ins a minute from one address`,
  NODE_UNREACHABLE: (err) =>
    `check the URL (--node, MYCEL_NODE_URL; for nodes status|connect|disconnect without --node: --host/--port, server.host/server.port) and that \`mycel serve\` runs there and is reachable from here (${detail(err, 'url') ?? 'the URL'})`,
  NETWORK_UNAVAILABLE: () => 'that node was started without the node network (an assembly or version without it): nothing to show or connect there',
  AUTH_GROUP_UNKNOWN: (err) => `create the group (groupadd ${detail(err, 'group') ?? 'GROUP'}) and add the members to it, or fix --auth-group (blobs.authGroup, MYCEL_AUTH_GROUP)`,
  AUTH_GROUP_FAILED: () =>
    'run the node as root or as a user in that group, on a filesystem that keeps POSIX groups and modes; keep blobs.clientTokenGraceSeconds at most blobs.clientTokenRotateSeconds (docs/shared-node.md)',
  CLIENT_TOKEN_UNREADABLE: () =>
    'ask the node\'s administrator to add you to its group (mycel serve --auth-group), log in again so the group applies, or log in as the owner (MYCEL_OWNER_PASSWORD); unset MYCEL_STORAGE_DIR to use the node over HTTP only',
  BAD_BLOB_URI: () => 'name a blob as sha256://<64 hex>, sha1://<40 hex>, or the bare hex digest (docs/blobs.md)',
  BLOB_NOT_FOUND: () => '`mycel blobs ls` lists the blob records of this node; bytes removed by `mycel blobs gc` come back with a new upload',
  BLOB_CORRUPT: () => 'the damaged file was moved to corrupt/ in the blob store; upload the blob again or fetch it from another node',
  NETWORK_SERVER_NOT_FOUND: () => '`mycel nodes status` lists the server entries and their ids',
  NETWORK_SERVER_FROM_CONFIG: () => 'this server comes from network.servers in the configuration: remove it there and restart the node',
  CHANNEL_NOT_FOUND: () => '`mycel channels list` shows the channels; `mycel channels create` makes one',
  CHANNEL_EXISTS: () => 'a channel of this name exists: `mycel channels show <name>` shows it',
  FORBIDDEN: () =>
    'the credential may not do this: with --as-node, the client node needs owner rights on that node (`mycel nodes set <id> --owner` there)',
  NODE_EXISTS: () => 'a node with this id is registered: `mycel nodes list` shows it, `mycel nodes set` changes it',
  NODE_NOT_FOUND: () => '`mycel nodes list` shows the registered node ids; `mycel nodes add` registers one',
  VALIDATION_FAILED: () => 'see the message above for the value that is not accepted',
  NOT_CONNECTED_TO_ORIGIN: () =>
    'the channel or post belongs to another node: write through a running node that is connected to it (`mycel --node URL posts create …`); `mycel nodes status` there shows its links',
  NODE_READ_ONLY: () => 'the origin node registers this node read-only: its owner grants writes there with `mycel nodes set <this node id> --read-write`',
  CHANNEL_NOT_PERMITTED: () => "the origin node's registration of this node does not cover the channel: its owner changes that with `mycel nodes set <this node id> --channels …`",
  FORWARD_TIMEOUT: (err) =>
    err.details?.committedAtOrigin === true ? 'the origin committed the write; it reaches this node with the next changes: do not write it again' : 'the origin did not answer in time (network.forwardTimeoutMs): try again',
  FORWARD_QUEUE_FULL: () => 'too many writes wait for their origin node (network.maxPendingForwards): try again shortly',
};

/** The hint for an error with a code. */
export function hintFor(err: MycelError): string {
  return HINTS[err.code]?.(err) ?? `docs/errors.md explains ${err.code}`;
}

/** The hint for a failure without a code: a bug, since every expected failure has one. */
export const INTERNAL_HINT = 'this is a bug in Mycel; please report it with the command you ran (MYCEL_LOG_LEVEL=debug also prints where it happened)';
