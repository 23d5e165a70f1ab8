import { configSchema } from './schema.js';
import { leafKind, schemaAt, type LeafKind } from './schema-walk.js';

/**
 * One row per leaf of the config schema: where it can be set from and what it means.
 * Types and defaults are read from the schema, never repeated here. keys.test.ts fails when
 * this table and the schema disagree; docs-config.test.ts when docs/config.md drifts from it.
 */

interface KeySpec {
  /** Dotted path in the schema, e.g. `server.port`. */
  path: string;
  /** `MYCEL_*` variable that sets it; null for settings only a YAML file can express. */
  env: string | null;
  /** Older names of the variable, still read; giving two names different values is an error. */
  envAliases?: readonly string[];
  /** Commander option syntax (`--port <port>`) for the commands that take overrides. */
  flag?: string;
  /** Never printed or logged: `mycel config` and logs show `[redacted]`. */
  secret?: boolean;
  /** A URL that may carry a password (`user:password@host`, `?password=`); only that part is redacted. */
  urlCredentials?: boolean;
  /** Text for the default when the schema has none because it is derived at run time. */
  defaultNote?: string;
  meaning: string;
}

const SPECS: readonly KeySpec[] = [
  // node
  { path: 'node.dataDir', env: 'MYCEL_DATA_DIR', envAliases: ['MYCEL_DB_DIR'], flag: '--data-dir <dir>', meaning: 'Directory that holds the node\'s files (the SQLite database); relative paths start at the working directory, `~/` at the home directory.' },
  { path: 'node.id', env: 'MYCEL_NODE_ID', defaultNote: 'a new UUIDv7', meaning: 'Id (a UUID) given to the node when it is created, so other nodes can be told it before it first starts (a compose file registering it elsewhere); later starts refuse another id (CONFIG_INVALID). Default: a new UUIDv7.' },
  { path: 'node.name', env: 'MYCEL_NODE_NAME', flag: '--node-name <name>', defaultNote: 'the host name', meaning: 'Name given to the node when it is created; later starts keep the stored name and log that they ignored another one.' },

  // owner
  { path: 'owner.password', env: 'MYCEL_OWNER_PASSWORD', secret: true, meaning: 'Owner password, at least 8 characters. Stored (scrypt) if the node has none; if it has one, the node starts only when this matches (see docs/owner.md to change it).' },
  { path: 'owner.remoteNodeId', env: 'MYCEL_OWNER_REMOTE_NODE_ID', meaning: 'Id (UUID) of a node to register as a client node with owner rights.' },
  { path: 'owner.remoteNodePassword', env: 'MYCEL_OWNER_REMOTE_NODE_PASSWORD', secret: true, meaning: 'Password that the owner\'s remote node logs in with; not overwritten once the node is registered.' },

  // server
  { path: 'server.host', env: 'MYCEL_HOST', flag: '--host <host>', meaning: 'Address the HTTP server binds to (`0.0.0.0` for every IPv4 interface).' },
  { path: 'server.port', env: 'MYCEL_PORT', flag: '--port <port>', meaning: 'TCP port the HTTP server listens on; `0` picks a free port.' },
  { path: 'server.publicUrl.scheme', env: 'MYCEL_URL_SCHEME', meaning: 'Scheme (`http` or `https`) of the public URL: the origin used in links and checked against `Origin` for CSRF.' },
  { path: 'server.publicUrl.host', env: 'MYCEL_URL_HOST', defaultNote: 'same as `server.host`', meaning: 'Host name of the public URL. Set it when clients reach the node under another name (proxy, `0.0.0.0` bind).' },
  { path: 'server.publicUrl.port', env: 'MYCEL_URL_PORT', defaultNote: 'same as `server.port`', meaning: 'Port of the public URL; left out of the URL when it is the scheme\'s default (80, 443).' },
  { path: 'server.sessionMinutes', env: 'MYCEL_SESSION_MINUTES', meaning: 'Minutes an owner or client-node session stays valid after login.' },
  { path: 'server.bodyLimit', env: 'MYCEL_BODY_LIMIT', meaning: 'Largest request body accepted, in bytes; a larger one gets 413 `BODY_TOO_LARGE`.' },
  { path: 'server.loginAttemptsPerMinute', env: 'MYCEL_LOGIN_ATTEMPTS_PER_MINUTE', meaning: 'Login attempts allowed per client address per minute, owner and node log-in each; more get 429 `RATE_LIMITED`.' },
  { path: 'server.corsOrigins', env: 'MYCEL_CORS_ORIGINS', meaning: 'Browser origins (e.g. `https://app.example.com`) allowed to call the REST API and the realtime server API from another origin, comma-separated in the variable; `*` allows any. Credentials travel as bearer tokens (no cookies cross-origin). Empty: no CORS headers.' },
  { path: 'server.shutdownGraceSeconds', env: 'MYCEL_SHUTDOWN_GRACE_SECONDS', meaning: 'Seconds to wait for in-flight requests on SIGINT/SIGTERM before closing anyway.' },
  { path: 'server.headersTimeoutMs', env: 'MYCEL_HEADERS_TIMEOUT_MS', meaning: 'Milliseconds a client may take to send the request line and headers (capped at `server.requestTimeoutMs`); a slower one gets 408 `REQUEST_TIMEOUT` and is disconnected.' },
  { path: 'server.requestTimeoutMs', env: 'MYCEL_REQUEST_TIMEOUT_MS', meaning: 'Milliseconds a client may take to send a whole request, headers and body; a slower one gets 408 `REQUEST_TIMEOUT` and is disconnected. Streaming responses (SSE, HTTP-streaming) are not cut once their request is in. Raise it with `server.bodyLimit` for slow links.' },
  { path: 'server.enableWebsocket', env: 'MYCEL_ENABLE_WEBSOCKET', meaning: 'Whether the node accepts WebSocket upgrades: the realtime endpoints (`/connection/websocket`, `/connection/uni_websocket`) and node links (`/api/v1/nodes/link`). `false` leaves the SSE and HTTP transports: realtime clients use SSE/HTTP-streaming, nodes link over SSE + HTTP (docs/network.md).' },
  { path: 'server.maxPendingConnectionsPerAddress', env: 'MYCEL_MAX_PENDING_CONNECTIONS_PER_ADDRESS', meaning: 'Connections one client address may hold open while they still send their request (headers or body); one more is answered 429 `TOO_MANY_CONNECTIONS` and closed. Connections that are being answered, streaming or upgraded to WebSocket do not count. `0` turns the limit off; behind a reverse proxy every client has the proxy\'s address.' },

  // database
  { path: 'database.url', env: 'MYCEL_DATABASE_URL', flag: '--database-url <url>', urlCredentials: true, meaning: '`sqlite` (a database file in the data dir), `sqlite:<file>` (that file; relative paths start at the working directory), `:memory:` (nothing is kept), or a `postgres://` URL (e.g. `postgres://user:password@host:5432/db`).' },

  // log
  { path: 'log.level', env: 'MYCEL_LOG_LEVEL', flag: '--log-level <level>', meaning: 'Lowest level written to the log (JSON lines on stdout).' },

  // network
  { path: 'network.servers', env: null, meaning: 'Servers this node connects to as a client: a list of `{url, password, role, transport}` (`role`: this node\'s data role towards the server, `child` (default), `parent` or `both`; `transport`: `auto` (default), `websocket` or `sse`). Write the password as `${VAR}`. YAML only: no environment variable or flag; servers added at run time are kept in the database (docs/network.md).' },
  { path: 'network.changesChunkSize', env: 'MYCEL_CHANGES_CHUNK_SIZE', meaning: 'Changes per message when this node serves its change log over a link.' },
  { path: 'network.maxMessageBytes', env: 'MYCEL_NETWORK_MAX_MESSAGE_BYTES', meaning: 'Largest message accepted on a node link, in bytes; a larger one stops the link with `CHUNK_TOO_LARGE`.' },
  { path: 'network.creditWindow', env: 'MYCEL_NETWORK_CREDIT_WINDOW', meaning: 'Chunks a pulling node lets its source send ahead of its imports (flow control).' },
  { path: 'network.forwardTimeoutMs', env: 'MYCEL_FORWARD_TIMEOUT_MS', meaning: 'Milliseconds a write forwarded to a channel\'s origin node may take, until its change is imported back, before the caller gets `FORWARD_TIMEOUT`.' },
  { path: 'network.maxPendingForwards', env: 'MYCEL_MAX_PENDING_FORWARDS', meaning: 'Forwarded writes in flight at once; one more is refused with `FORWARD_QUEUE_FULL`.' },

  // blobs
  { path: 'blobs.dir', env: 'MYCEL_STORAGE_DIR', flag: '--storage-dir <dir>', defaultNote: '`<node.dataDir>/blobs`', meaning: 'Directory of the blob store (docs/blobs.md); relative paths start at the working directory, `~/` at the home directory.' },
  { path: 'blobs.maxUploadBytes', env: 'MYCEL_BLOBS_MAX_UPLOAD_BYTES', meaning: 'Largest blob accepted, in bytes (default 4 GiB); a larger upload gets 413 `BLOB_TOO_LARGE` and nothing is kept.' },
  { path: 'blobs.allowDownload', env: 'MYCEL_BLOBS_ALLOW_DOWNLOAD', meaning: 'Whether actors without owner rights may download blobs (those they uploaded or that a post they may read refers to); `false`: only the owner.' },
  { path: 'blobs.gcGraceSeconds', env: 'MYCEL_BLOBS_GC_GRACE_SECONDS', meaning: 'Seconds a blob that no post refers to and nobody pinned is kept before `mycel blobs gc` removes its bytes.' },
  { path: 'blobs.eagerChannels', env: 'MYCEL_BLOBS_EAGER_CHANNELS', meaning: 'Channel patterns (comma-separated in the variable; `*` matches any run of characters) whose blobs a child node fetches from its server as soon as a post referring to them arrives; other blobs are fetched on first read.' },
  { path: 'blobs.authGroup', env: 'MYCEL_AUTH_GROUP', flag: '--auth-group <group>', defaultNote: 'none (private store)', meaning: 'OS group (name or numeric id) the blob store is shared with, for a lab\'s shared node (docs/shared-node.md): `blobs.dir` becomes readable by the group (directories 2750, files 0640), and the node writes a client token file and a `node-id` file there. Every member of the group acts as the node. Unset: the store stays private to the node\'s user.' },
  { path: 'blobs.clientTokenRotateSeconds', env: 'MYCEL_CLIENT_TOKEN_ROTATE_SECONDS', meaning: 'With `blobs.authGroup`: seconds between two client tokens (at most 24 days); the file `client-token` is replaced atomically with a new one, and every start writes a new one.' },
  { path: 'blobs.clientTokenGraceSeconds', env: 'MYCEL_CLIENT_TOKEN_GRACE_SECONDS', meaning: 'With `blobs.authGroup`: seconds the previous client token is still accepted after a rotation; at most `blobs.clientTokenRotateSeconds`.' },

  // compute
  { path: 'compute.mode', env: 'MYCEL_COMPUTE_MODE', meaning: 'Federated compute role (docs/compute.md): `off`; `node`, an aggregation node that clients call; `client`, a node that pulls tasks from `compute.join.url` and runs them on its datasources; `standalone`, both in one process.' },
  { path: 'compute.heartbeatSeconds', env: 'MYCEL_COMPUTE_HEARTBEAT_SECONDS', meaning: 'Seconds between a compute client\'s polls of its aggregation node; a poll waits up to this long for a task and returns as soon as one exists.' },
  { path: 'compute.roundTimeoutSeconds', env: 'MYCEL_COMPUTE_ROUND_TIMEOUT_SECONDS', meaning: 'Seconds a round of a compute job waits for its clients when the plan sets no roundTimeoutSeconds; a task not answered by then fails with TASK_DEADLINE_EXCEEDED and the round goes on with the clients that answered.' },
  { path: 'compute.healthcheckSeconds', env: 'MYCEL_COMPUTE_HEALTHCHECK_SECONDS', meaning: 'Seconds between a compute node\'s self checks.' },
  { path: 'compute.allowResourceDownload', env: 'MYCEL_COMPUTE_ALLOW_RESOURCE_DOWNLOAD', meaning: 'Whether a workbench may download the result artifacts of its jobs.' },
  { path: 'compute.projects', env: null, meaning: 'Projects created on first start: a list of `{name, token}`; a job submitted with a project\'s token may read the datasources bound to that token. Write tokens as `${VAR}`; they are secrets. YAML only: no environment variable or flag.' },
  { path: 'compute.join.first', env: 'MYCEL_COMPUTE_JOIN_FIRST', meaning: 'This node starts a compute network: it is the first aggregation node, and needs no `compute.join.url`.' },
  { path: 'compute.join.url', env: 'MYCEL_COMPUTE_JOIN_URL', meaning: 'URL of the aggregation node a client joins; in mode `node`, a node of the network this further aggregation node joins (as a read-only child that pulls it, on its first start).' },
  { path: 'compute.join.invitation', env: 'MYCEL_COMPUTE_INVITATION', secret: true, meaning: 'Invitation issued by the owner of the node at `compute.join.url` (`mycel compute invite`; for a further aggregation node `--kind node`), used once on the first join.' },
  { path: 'compute.datasources', env: null, meaning: 'Private datasources of a compute client: a list of `{name, kind, type, path, tokens}` (`kind`: `file`; `type`: `csv`, `tsv` or `parquet`; `tokens`: the project tokens whose jobs may read it). Read where they lie; rows never leave the client. YAML only: no environment variable or flag.' },

  // realtime
  { path: 'realtime.apiKey', env: 'MYCEL_API_KEY', secret: true, defaultNote: 'none', meaning: 'HS256 key that signs connection and subscription JWTs and guards the server API; at least 32 bytes (256 bits), e.g. `openssl rand -hex 32`.' },
  { path: 'realtime.tokenRsaPublicKey', env: 'MYCEL_TOKEN_RSA_PUBLIC_KEY', defaultNote: 'none', meaning: 'RSA public key (PEM, at least 2048 bits) that verifies RS256/RS384/RS512 and PS256/PS384/PS512 tokens; `\\n` sequences in a variable are read as line breaks. See docs/protocol.md, "JWT keys".' },
  { path: 'realtime.tokenEcdsaPublicKey', env: 'MYCEL_TOKEN_ECDSA_PUBLIC_KEY', defaultNote: 'none', meaning: 'ECDSA public key (PEM; P-256, P-384 or P-521) that verifies ES256, ES384 or ES512 tokens (the curve decides which); `\\n` sequences are read as line breaks.' },
  { path: 'realtime.tokenJwksUrl', env: 'MYCEL_TOKEN_JWKS_URL', defaultNote: 'none', meaning: 'http(s) URL of a JSON Web Key Set whose RSA and EC keys verify tokens (picked by `kid`). Kept for 10 minutes; an unknown `kid` fetches it again, at most every 5 s. A token is refused as invalid only by a set fetched for it: while the set cannot be fetched, or an unknown `kid` waits for the next fetch, tokens are answered as a temporary error (clients retry).' },
  { path: 'realtime.tokenAudience', env: 'MYCEL_TOKEN_AUDIENCE', defaultNote: 'none', meaning: 'When set, every connection and subscription token must carry this `aud`.' },
  { path: 'realtime.tokenIssuer', env: 'MYCEL_TOKEN_ISSUER', defaultNote: 'none', meaning: 'When set, every connection and subscription token must carry this `iss`.' },
  { path: 'realtime.apiKeyFailuresPerMinute', env: 'MYCEL_API_KEY_FAILURES_PER_MINUTE', meaning: 'Server API requests with a missing or wrong key allowed per client address per minute (answered 401); more are answered 429 with code 111 until the minute is over. Requests with the right key are never limited.' },
  { path: 'realtime.redisUrl', env: 'MYCEL_REDIS_URL', urlCredentials: true, defaultNote: 'none (in-process)', meaning: 'Redis URL for the bus, history and presence shared by several instances of one node.' },
  { path: 'realtime.allowAnonymous', env: 'MYCEL_ALLOW_ANONYMOUS', meaning: 'Whether clients may connect without a connection token.' },
  { path: 'realtime.recoveryWindowSeconds', env: 'MYCEL_RECOVERY_WINDOW_SECONDS', meaning: 'How long, in seconds, a disconnected client may come back and recover what it missed.' },
  { path: 'realtime.pingIntervalSeconds', env: 'MYCEL_PING_INTERVAL_SECONDS', meaning: 'Seconds between server pings on a client connection; `0` turns pings off.' },
  { path: 'realtime.pongTimeoutSeconds', env: 'MYCEL_PONG_TIMEOUT_SECONDS', meaning: 'Seconds to wait for a client\'s pong before closing the connection.' },
  { path: 'realtime.presenceTtlSeconds', env: 'MYCEL_PRESENCE_TTL_SECONDS', meaning: 'Seconds a presence entry lives unless its connection refreshes it.' },
  { path: 'realtime.maxMessageBytes', env: 'MYCEL_MAX_MESSAGE_BYTES', meaning: 'Largest message a client may send, in bytes.' },
  { path: 'realtime.maxSubscriptionsPerConnection', env: 'MYCEL_MAX_SUBSCRIPTIONS_PER_CONNECTION', meaning: 'Channels one connection may subscribe to.' },
  { path: 'realtime.maxCommandsPerSecond', env: 'MYCEL_MAX_COMMANDS_PER_SECOND', meaning: 'Commands one connection may send per second.' },
  { path: 'realtime.maxQueuedBytes', env: 'MYCEL_MAX_QUEUED_BYTES', meaning: 'Bytes queued for a slow client before it is disconnected.' },

  // realtime.channel: the default namespace (channels without `:`)
  { path: 'realtime.channel.publish', env: 'MYCEL_CHANNEL_PUBLISH', meaning: 'Default namespace: who may publish from a client connection.' },
  { path: 'realtime.channel.subscribe', env: 'MYCEL_CHANNEL_SUBSCRIBE', meaning: 'Default namespace: who may subscribe (private `$` channels also need a subscription token).' },
  { path: 'realtime.channel.history', env: 'MYCEL_CHANNEL_HISTORY', meaning: 'Default namespace: who may read history.' },
  { path: 'realtime.channel.presence', env: 'MYCEL_CHANNEL_PRESENCE', meaning: 'Default namespace: who may see presence and presence stats.' },
  { path: 'realtime.channel.historySize', env: 'MYCEL_CHANNEL_HISTORY_SIZE', meaning: 'Default namespace: publications kept per channel for history and recovery; `0` turns history off.' },
  { path: 'realtime.channel.historyTtlSeconds', env: 'MYCEL_CHANNEL_HISTORY_TTL_SECONDS', meaning: 'Default namespace: seconds history is kept after the last publication.' },
  { path: 'realtime.channel.recovery', env: 'MYCEL_CHANNEL_RECOVERY', meaning: 'Default namespace: whether reconnecting clients may recover missed publications.' },
  { path: 'realtime.channel.joinLeave', env: 'MYCEL_CHANNEL_JOIN_LEAVE', meaning: 'Default namespace: whether subscribers receive join/leave events.' },
  { path: 'realtime.channel.presenceEnabled', env: 'MYCEL_CHANNEL_PRESENCE_ENABLED', meaning: 'Default namespace: whether clients are added to the channel\'s presence.' },
  { path: 'realtime.channel.persist', env: 'MYCEL_CHANNEL_PERSIST', meaning: 'Default namespace: whether a publication is stored as a post through the write path.' },
  { path: 'realtime.namespaces', env: null, meaning: 'Options per namespace, keyed by name; each value takes the same fields as `realtime.channel`. YAML only: no environment variable or flag.' },
];

/** Everything known about one setting. */
export interface ConfigKey {
  readonly path: string;
  readonly env: string | null;
  /** Older variable names that set it too (`MYCEL_DB_DIR` for `MYCEL_DATA_DIR`). */
  readonly envAliases: readonly string[];
  readonly flag: string | null;
  readonly secret: boolean;
  readonly urlCredentials: boolean;
  /** The schema's default, or undefined when it has none (see defaultNote). */
  readonly default: unknown;
  readonly defaultNote: string | null;
  /** From the schema; undefined only when the path is not in the schema (keys.test.ts catches that). */
  readonly type: LeafKind | undefined;
  readonly meaning: string;
}

/** Every default the schema fills in, from parsing an empty input. */
const SCHEMA_DEFAULTS: unknown = configSchema.parse({});

/** The value at a dotted path of a plain object, or undefined. */
export function getPath(root: unknown, path: string): unknown {
  let current = root;
  for (const segment of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

export const CONFIG_KEYS: readonly ConfigKey[] = Object.freeze(
  SPECS.map((spec) => {
    const schema = schemaAt(configSchema, spec.path.split('.'));
    return Object.freeze({
      path: spec.path,
      env: spec.env,
      envAliases: Object.freeze([...(spec.envAliases ?? [])]),
      flag: spec.flag ?? null,
      secret: spec.secret ?? false,
      urlCredentials: spec.urlCredentials ?? false,
      default: getPath(SCHEMA_DEFAULTS, spec.path),
      defaultNote: spec.defaultNote ?? null,
      type: schema ? leafKind(schema) : undefined,
      meaning: spec.meaning,
    });
  }),
);

/** The long option name of a key's flag: `--port <port>` → `--port`. */
export function flagName(key: ConfigKey): string | null {
  return key.flag ? key.flag.split(' ')[0]! : null;
}

/** The property commander stores a flag under: `--data-dir` → `dataDir`. */
export function flagAttribute(key: ConfigKey): string | null {
  const name = flagName(key);
  return name ? name.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) : null;
}

/** The key for a dotted path, if there is one. */
export function keyByPath(path: string): ConfigKey | undefined {
  return CONFIG_KEYS.find((k) => k.path === path);
}

/** A default as docs/config.md writes it: `5103`, `./mycel-data`, `{}`, or the derived note. */
export function formatDefault(key: ConfigKey): string {
  if (key.default === undefined) return key.defaultNote ?? 'none';
  if (typeof key.default === 'string') return `\`${key.default}\``;
  return `\`${JSON.stringify(key.default)}\``;
}

/** The type as docs/config.md writes it. */
export function formatType(key: ConfigKey): string {
  const t = key.type;
  if (!t) return '?';
  if (t.kind === 'enum') return t.values.map((v) => `\`${v}\``).join(' \\| ');
  if (t.kind === 'list') return 'list of strings';
  if (t.kind === 'objects') return 'list of objects';
  return t.kind;
}
