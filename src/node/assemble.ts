/**
 * The node's assembly: config → storage → core → realtime → HTTP server, wired one way for
 * `mycel serve` (src/cli/commands/serve.ts), the CLI's one-shot tasks (src/cli/node-tasks.ts)
 * and the in-process test harnesses, which open the core and the domain persistence here.
 */
import type { FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { resolveDataDir, type Config } from '../config/index.js';
import { openNodeCore, type NodeCore } from '../domain/node-core.js';
import { buildHttpApp } from '../http/app.js';
import { packageVersion } from '../lib/package-version.js';
import { registerRealtimeRoutes } from '../http/routes/realtime.js';
import { createLogger, type Logger } from '../log.js';
import { jwtActorResolver, ownerSessionCredentials } from '../realtime/auth/domain-credentials.js';
import { TokenVerifier } from '../realtime/auth/tokens.js';
import { createRealtimeBackends } from '../realtime/backends.js';
import { namespaceChannelPolicy } from '../realtime/channel-policy.js';
import { DomainPersistence } from '../realtime/domain-persist.js';
import { Namespaces } from '../realtime/namespaces.js';
import { RealtimeNode } from '../realtime/realtime-node.js';
import { attachWebSocket } from '../realtime/transports/websocket.js';
import { createStorage } from '../storage/index.js';
import type { Storage } from '../storage/storage.js';
import { listenError } from './listen-check.js';
import { claimServeResources } from './serve-claim.js';

/** A running node: what `mycel serve` starts. */
export interface RunningNode {
  readonly core: NodeCore;
  readonly realtime: RealtimeNode;
  readonly app: FastifyInstance;
  /** The URL the server listens on (the real port when configured as 0). */
  readonly url: string;
  /** Stops accepting requests, lets in-flight writes commit, closes storage. Idempotent. */
  close(): Promise<void>;
}

export interface CoreParts {
  /** The node's one reading of the namespace settings; built from the config by default. */
  namespaces?: Namespaces;
  /** An open storage to use instead of the one the config names (tests pass a test backend's). */
  storage?: Storage;
}

/**
 * Opens storage and the node core as the config says (the channel policy from the namespace
 * settings); closes storage again if that fails. `mycel serve`, the CLI's one-shot tasks and
 * the test harnesses all open the core here.
 */
export async function openCoreFromConfig(config: Config, log: Logger, parts: CoreParts = {}): Promise<NodeCore> {
  const storage = parts.storage ?? createStorage({ url: config.database.url, dataDir: resolveDataDir(config) });
  try {
    return await openNodeCore(storage, {
      identity: {
        name: config.node.name,
        ownerPassword: config.owner.password,
        remoteOwner:
          config.owner.remoteNodeId && config.owner.remoteNodePassword
            ? { nodeId: config.owner.remoteNodeId, password: config.owner.remoteNodePassword }
            : undefined,
      },
      sessionMinutes: config.server.sessionMinutes,
      channelPolicy: namespaceChannelPolicy(parts.namespaces ?? new Namespaces(config.realtime)),
      log,
    });
  } catch (err) {
    await storage.close();
    throw err;
  }
}

/** Persisted namespaces on the node's domain: posts through the Operator, history from its reads. */
export function domainPersistence(core: NodeCore, namespaces: Namespaces): DomainPersistence {
  return new DomainPersistence({ operator: core.operator, storage: core.storage, hook: core.hook, namespaces });
}

/** The composition root: config → storage → core → realtime → HTTP server. Nothing else lives here. */
export async function startNode(config: Config, log: Logger = createLogger({ level: config.log.level })): Promise<RunningNode> {
  // One reading of the namespace settings and one token verifier for the whole node: the
  // domain's channel policy, the realtime node, persistence and HTTP's JWT resolver share them.
  const namespaces = new Namespaces(config.realtime);
  const tokens = TokenVerifier.fromConfig(config.realtime, { log: log.child({ module: 'tokens' }) });
  // The port and (on SQLite) the data directory are claimed before anything is created.
  const claim = await claimServeResources(config);
  const core = await openCoreFromConfig(config, log, { namespaces }).catch((err: unknown) => {
    claim.release();
    throw err;
  });
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const backends = createRealtimeBackends({ redisUrl: config.realtime.redisUrl, nodeId: core.node.id, log: log.child({ module: 'realtime' }) });
  const persistence = domainPersistence(core, namespaces);
  const realtime = new RealtimeNode({
    config: config.realtime,
    bus: backends.bus,
    history: backends.history,
    presence: backends.presence,
    registry: metrics,
    log: log.child({ module: 'realtime' }),
    name: core.node.name,
    version: packageVersion(),
    namespaces,
    tokens,
    persist: persistence,
    credentials: ownerSessionCredentials(core.sessions),
  });
  const detachPersistence = persistence.attach(realtime);
  let shuttingDown = false;
  let app: FastifyInstance;
  let ws: ReturnType<typeof attachWebSocket> | undefined;
  try {
    app = await buildHttpApp({
      config,
      core,
      log,
      metrics,
      actorResolvers: [jwtActorResolver(tokens)],
      isShuttingDown: () => shuttingDown,
      readinessChecks: backends.readiness,
    });
    await registerRealtimeRoutes(app, { realtime, config });
    ws = attachWebSocket(app.server, realtime);
    await app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    detachPersistence();
    await realtime.shutdown(0);
    await ws?.close();
    await backends.close();
    await core.close();
    claim.release();
    throw listenError(err, config.server.host, config.server.port);
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const url = `http://${host}:${port}`;
  log.info({ url, nodeId: core.node.id, name: core.node.name, port, realtime: backends.kind }, 'listening');

  let closing: Promise<void> | undefined;
  return {
    core,
    realtime,
    app,
    url,
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        // Clients first, with "reconnect" advice (3001), given server.shutdownGraceSeconds to
        // go; then HTTP (fastify lets in-flight requests finish); then the write path.
        await realtime.shutdown(config.server.shutdownGraceSeconds * 1000);
        await ws?.close();
        await app.close();
        detachPersistence();
        await core.close();
        await backends.close();
        claim.release();
      })();
      return closing;
    },
  };
}
