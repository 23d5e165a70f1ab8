import { z } from 'zod';
import { jwksUrlSetting, publicKeyPemSetting } from './token-keys.js';

/**
 * The configuration schema: the one source of truth for every setting, its type and default.
 * Each leaf is described in src/config/keys.ts (env name, CLI flag, docs) and in docs/config.md.
 */

const port = z.number().int().min(0).max(65535);

/** Permission for an action in a namespace: who may do it. */
export const accessLevel = z.enum(['none', 'owner', 'user', 'anonymous']);
export type AccessLevel = z.infer<typeof accessLevel>;

export const namespaceOptionsSchema = z
  .object({
    /** Who may publish from a client connection. */
    publish: accessLevel.default('user'),
    /** Who may subscribe. Private channels (`$` prefix) also need a subscription token. */
    subscribe: accessLevel.default('user'),
    /** Who may read history. */
    history: accessLevel.default('user'),
    /** Who may see presence and presence stats. */
    presence: accessLevel.default('user'),
    /** Publications kept per channel for history and recovery; 0 turns history off. */
    historySize: z.number().int().min(0).max(1_000_000).default(100),
    /** How long history is kept after the last publication, in seconds. */
    historyTtlSeconds: z.number().int().min(1).default(600),
    /** Whether reconnecting clients may recover missed publications. */
    recovery: z.boolean().default(true),
    /** Whether subscribers receive join/leave events. */
    joinLeave: z.boolean().default(false),
    /** Whether clients are added to the channel's presence. */
    presenceEnabled: z.boolean().default(true),
    /** Whether a publication is stored as a post through the write path. */
    persist: z.boolean().default(false),
  })
  .strict();
export type NamespaceOptions = z.infer<typeof namespaceOptionsSchema>;

/** One server this node connects to (network.servers): `role` is this node's data role towards it. */
export const networkServerSchema = z
  .object({
    url: z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL'),
    password: z.string().min(1),
    role: z.enum(['child', 'parent', 'both']).default('child'),
    transport: z.enum(['auto', 'websocket', 'sse']).default('auto'),
  })
  .strict();
export type NetworkServerConfig = z.infer<typeof networkServerSchema>;

/** A name a compute project or datasource goes by: also how plans and tokens refer to it. */
const computeName = z.string().min(1).max(200).regex(/^[A-Za-z0-9_.-]+$/, 'may hold letters, digits, `_`, `.` and `-` only');

/** A project (compute.projects): its token lets a workbench submit jobs that read the datasources bound to it. */
export const computeProjectSchema = z
  .object({
    name: computeName,
    token: z.string().min(1),
  })
  .strict();
export type ComputeProjectConfig = z.infer<typeof computeProjectSchema>;

/** A private datasource of a compute client (compute.datasources), read where it lies. */
export const computeDatasourceSchema = z
  .object({
    name: computeName,
    kind: z.literal('file').default('file'),
    type: z.enum(['csv', 'tsv', 'parquet']),
    path: z.string().min(1),
    /** Project tokens whose jobs may read it. */
    tokens: z.array(z.string().min(1)).min(1).max(100).readonly(),
  })
  .strict();
export type ComputeDatasourceConfig = z.infer<typeof computeDatasourceSchema>;

export const configSchema = z
  .object({
    node: z
      .object({
        /** Node name used on first start; later starts keep the stored one. Default: host name. */
        name: z.string().min(1).max(200).optional(),
        /** Node id used on first start; a later start with another id is refused. Default: a new UUIDv7. */
        id: z.uuid().optional(),
        dataDir: z.string().min(1).default('./mycel-data'),
      })
      .strict()
      .prefault({}),
    owner: z
      .object({
        password: z.string().min(1).optional(),
        remoteNodeId: z.uuid().optional(),
        remoteNodePassword: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(5103),
        publicUrl: z
          .object({
            scheme: z.enum(['http', 'https']).default('http'),
            /** Host clients use; defaults to server.host. */
            host: z.string().min(1).optional(),
            /** Port clients use; defaults to server.port. */
            port: port.optional(),
          })
          .strict()
          .prefault({}),
        sessionMinutes: z.number().int().min(1).max(525_600).default(1440),
        /** Largest request body accepted, in bytes. */
        bodyLimit: z.number().int().min(1024).max(1024 * 1024 * 1024).default(1024 * 1024),
        /** Login attempts allowed per client address per minute. */
        loginAttemptsPerMinute: z.number().int().min(1).max(10_000).default(10),
        /** Browser origins allowed to call the REST and server APIs cross-origin (CORS); `*` = any. */
        corsOrigins: z
          .array(
            z.string().refine((v) => v === '*' || /^https?:\/\/[^/?#\s]+$/.test(v), {
              message: 'must be `*` or an origin such as `https://app.example.com` (scheme and host, optional port, no path)',
            }),
          )
          .max(100)
          .readonly()
          .default([]),
        /** Seconds to wait for in-flight requests on shutdown. */
        shutdownGraceSeconds: z.number().int().min(0).max(600).default(10),
        /** Milliseconds a client may take to send the request line and headers (never more than requestTimeoutMs). */
        headersTimeoutMs: z.number().int().min(100).max(3_600_000).default(10_000),
        /** Milliseconds a client may take to send a whole request, headers and body; a streaming response is not cut by it. */
        requestTimeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
        /** Connections one address may hold open while they still send a request; 0 turns the limit off. */
        maxPendingConnectionsPerAddress: z.number().int().min(0).max(1_000_000).default(64),
        /** WebSocket endpoints (realtime and node links); false leaves SSE and HTTP only. */
        enableWebsocket: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        /** `sqlite` (file in the data dir), `:memory:`, or a postgres:// URL. */
        url: z.string().min(1).default('sqlite'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    network: z
      .object({
        /** Servers this node connects to as a client (YAML only). */
        servers: z.array(networkServerSchema).max(100).readonly().default([]),
        /** Changes per `changes` message on a link. */
        changesChunkSize: z.number().int().min(1).max(10_000).default(100),
        /** Largest message on a node link, in bytes. */
        maxMessageBytes: z.number().int().min(64 * 1024).max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
        /** Chunks a puller lets its source send ahead of its imports. */
        creditWindow: z.number().int().min(1).max(1024).default(16),
        /** Milliseconds a forwarded write may take until its change is imported back. */
        forwardTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
        /** Forwarded writes in flight at once; more are refused. */
        maxPendingForwards: z.number().int().min(1).max(1_000_000).default(1000),
      })
      .strict()
      .prefault({}),
    blobs: z
      .object({
        /** Blob store directory; default `<node.dataDir>/blobs`, resolved like the data dir. */
        dir: z.string().min(1).optional(),
        /** Largest blob accepted by an upload, in bytes (default 4 GiB). */
        maxUploadBytes: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).default(4 * 1024 * 1024 * 1024),
        /** Whether actors without owner rights may download blobs at all. */
        allowDownload: z.boolean().default(true),
        /** Seconds an unreferenced, unpinned blob is kept before `mycel blobs gc` removes its bytes. */
        gcGraceSeconds: z.number().int().min(0).max(10 * 365 * 86_400).default(86_400),
        /** Channel patterns whose blobs a child fetches as soon as the post arrives. */
        eagerChannels: z.array(z.string().min(1).max(300)).max(1000).readonly().default([]),
        /** OS group (name or numeric id) the blob store is shared with, for a lab's shared node (docs/shared-node.md). */
        authGroup: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\$?$/, 'must be an OS group name or a numeric group id').optional(),
        /** Seconds between two client tokens of the shared node. */
        clientTokenRotateSeconds: z.number().int().min(1).max(24 * 86_400).default(86_400),
        /** Seconds the previous client token is still accepted after a rotation (at most the rotation interval). */
        clientTokenGraceSeconds: z.number().int().min(0).max(24 * 86_400).default(3600),
      })
      .strict()
      .prefault({}),
    compute: z
      .object({
        /** `off`; `node` (aggregation node), `client` (runs tasks on its datasources), `standalone` (both in one process). */
        mode: z.enum(['off', 'node', 'client', 'standalone']).default('off'),
        /** Seconds between a client's polls (the longest a poll waits for a task). */
        heartbeatSeconds: z.number().positive().max(3600).default(10),
        /** Seconds between a node's self checks. */
        healthcheckSeconds: z.number().positive().max(7 * 86_400).default(3600),
        /**
         * Seconds a round of a job waits for its clients (Flower's round timeout): tasks not
         * answered by then fail with TASK_DEADLINE_EXCEEDED; a plan's roundTimeoutSeconds wins.
         */
        roundTimeoutSeconds: z.number().int().min(1).max(30 * 86_400).default(3600),
        /** Whether a workbench may download a job's result artifacts. */
        allowResourceDownload: z.boolean().default(true),
        /** Projects created on first start (YAML only). */
        projects: z.array(computeProjectSchema).max(1000).readonly().default([]),
        join: z
          .object({
            /** This node starts a compute network (it is the first aggregation node). */
            first: z.boolean().default(false),
            /** URL of an aggregation node to join. */
            url: z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL').optional(),
            /** Invitation issued by the owner of that node; used once. */
            invitation: z.string().min(1).optional(),
          })
          .strict()
          .prefault({}),
        /** Private datasources of a client (YAML only). */
        datasources: z.array(computeDatasourceSchema).max(1000).readonly().default([]),
      })
      .strict()
      .prefault({}),
    realtime: z
      .object({
        /** HS256 key that signs connection and subscription JWTs and guards the server API. */
        apiKey: z.string().min(1).optional(),
        /** Public keys that verify RS256/ES256 (and kin) tokens; see src/config/token-keys.ts. */
        tokenRsaPublicKey: publicKeyPemSetting('rsa').optional(),
        tokenEcdsaPublicKey: publicKeyPemSetting('ec').optional(),
        tokenJwksUrl: jwksUrlSetting.optional(),
        /** When set, every token must carry this `aud` / `iss`. */
        tokenAudience: z.string().min(1).optional(),
        tokenIssuer: z.string().min(1).optional(),
        /** Requests with a wrong server API key allowed per client address per minute; more get 429. */
        apiKeyFailuresPerMinute: z.number().int().min(1).max(100_000).default(20),
        /** Redis URL for the bus, history and presence shared by several instances. */
        redisUrl: z.string().min(1).optional(),
        allowAnonymous: z.boolean().default(false),
        recoveryWindowSeconds: z.number().int().min(1).default(120),
        pingIntervalSeconds: z.number().int().min(0).default(25),
        pongTimeoutSeconds: z.number().int().min(1).default(8),
        presenceTtlSeconds: z.number().int().min(5).default(60),
        maxMessageBytes: z.number().int().min(1024).default(65536),
        maxSubscriptionsPerConnection: z.number().int().min(1).default(128),
        maxCommandsPerSecond: z.number().int().min(1).default(100),
        maxQueuedBytes: z.number().int().min(1024).default(1024 * 1024),
        /** Options of the default namespace (channels without `:`). */
        channel: namespaceOptionsSchema.prefault({}),
        /** Options per namespace, by name. */
        namespaces: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), namespaceOptionsSchema).default({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
/** The input shape: what a YAML file or an object in a test may give (everything optional). */
export type ConfigInput = z.input<typeof configSchema>;
