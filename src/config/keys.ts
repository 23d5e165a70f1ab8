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
  { path: 'server.maxPendingConnectionsPerAddress', env: 'MYCEL_MAX_PENDING_CONNECTIONS_PER_ADDRESS', meaning: 'Connections one client address may hold open while they still send their request (headers or body); one more is answered 429 `TOO_MANY_CONNECTIONS` and closed. Connections that are being answered, streaming or upgraded to WebSocket do not count. `0` turns the limit off; behind a reverse proxy every client has the proxy\'s address.' },

  // database
  { path: 'database.url', env: 'MYCEL_DATABASE_URL', flag: '--database-url <url>', urlCredentials: true, meaning: '`sqlite` (a database file in the data dir), `:memory:` (nothing is kept), or a `postgres://` URL (e.g. `postgres://user:password@host:5432/db`).' },

  // log
  { path: 'log.level', env: 'MYCEL_LOG_LEVEL', flag: '--log-level <level>', meaning: 'Lowest level written to the log (JSON lines on stdout).' },

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
  return t.kind;
}
