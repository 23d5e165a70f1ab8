import type { FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { resolveDataDir, type Config } from './config/index.js';
import { openNodeCore, type NodeCore } from './domain/node-core.js';
import { buildHttpApp } from './http/app.js';
import { createLogger, type Logger } from './log.js';
import { createStorage } from './storage/index.js';

/** A running node: what `mycel serve` starts and tests drive in-process. */
export interface RunningNode {
  readonly core: NodeCore;
  readonly app: FastifyInstance;
  /** The URL the server listens on (the real port when configured as 0). */
  readonly url: string;
  /** Stops accepting requests, lets in-flight writes commit, closes storage. Idempotent. */
  close(): Promise<void>;
}

/** Opens storage and the node core as the config says; closes storage again if that fails. */
export async function openCoreFromConfig(config: Config, log: Logger): Promise<NodeCore> {
  const storage = createStorage({ url: config.database.url, dataDir: resolveDataDir(config) });
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
      log,
    });
  } catch (err) {
    await storage.close();
    throw err;
  }
}

/** The composition root: config → storage → core → HTTP server. Nothing else lives here. */
export async function startNode(config: Config, log: Logger = createLogger({ level: config.log.level })): Promise<RunningNode> {
  const core = await openCoreFromConfig(config, log);
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  let app: FastifyInstance;
  try {
    app = await buildHttpApp({ config, core, log, metrics });
    await app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    await core.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  const url = `http://${host}:${port}`;
  log.info({ url, nodeId: core.node.id, name: core.node.name, port }, 'listening');

  let closing: Promise<void> | undefined;
  return {
    core,
    app,
    url,
    close() {
      closing ??= (async () => {
        await app.close();
        await core.close();
      })();
      return closing;
    },
  };
}

/** `mycel serve`: runs until SIGINT/SIGTERM, then shuts down gracefully. */
export async function runServe(config: Config): Promise<void> {
  const log = createLogger({ level: config.log.level });
  const node = await startNode(config, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        log.error({ graceSeconds: config.server.shutdownGraceSeconds }, 'shutdown grace period over; exiting');
        process.exit(1);
      }, config.server.shutdownGraceSeconds * 1000 + 5000);
      force.unref();
      node.close().then(resolve, (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  log.info('stopped');
}
