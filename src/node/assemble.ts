/**
 * The node's assembly: config → storage → core → realtime → HTTP server, wired one way for
 * `mycel serve` (src/cli/commands/serve.ts), the CLI's one-shot tasks (src/cli/node-tasks.ts)
 * and the in-process test harnesses, which open the core and the domain persistence here.
 */
import type { FastifyInstance } from 'fastify';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { BlobFetcher, watchEagerChannels } from '../blobs/blob-fetcher.js';
import { ClientTokens } from '../blobs/client-token.js';
import { FsBlobStore } from '../blobs/fs-blob-store.js';
import { hashThread } from '../blobs/hash-thread.js';
import { assertOutsideDataDir, closeDataDir, resolveGroup, shareWithGroup, unreachableAncestors, writeNodeIdFile } from '../blobs/shared-store.js';
import { resolveDataDir, type Config } from '../config/index.js';
import { resolveBlobsDir } from '../config/load.js';
import { ComputeClientLoop, loadClientState } from '../compute/compute-client.js';
import { ComputeService } from '../compute/compute-service.js';
import { runRelayedTaskOp } from '../compute/relayed-task-op.js';
import { computeNetworkJoin, joinComputeNetwork } from './compute-network-join.js';
import { ComputeMetrics } from '../compute/metrics.js';
import { OWNER, SYSTEM, type Actor } from '../domain/actor.js';
import { MAX_RESULT_BLOB_BYTES } from '../domain/compute-limits.js';
import { isComputeTaskOp } from '../domain/forwarded-writes.js';
import { openNodeCore, type NodeCore } from '../domain/node-core.js';
import { buildHttpApp } from '../http/app.js';
import { clientTokenResolver } from '../http/auth.js';
import { packageVersion } from '../lib/package-version.js';
import { registerRealtimeRoutes } from '../http/routes/realtime.js';
import { createLogger, type Logger } from '../log.js';
import { Forwarding } from '../network/forwarding.js';
import { NetworkNode } from '../network/network-node.js';
import { refuseLinkWebSocket, serveLinkWebSocket } from '../network/transports/ws-link-server.js';
import { jwtActorResolver, ownerSessionCredentials } from '../realtime/auth/domain-credentials.js';
import { TokenVerifier } from '../realtime/auth/tokens.js';
import { createRealtimeBackends } from '../realtime/backends.js';
import { namespaceChannelPolicy } from '../realtime/channel-policy.js';
import { DomainPersistence } from '../realtime/domain-persist.js';
import { Namespaces } from '../realtime/namespaces.js';
import { RealtimeNode } from '../realtime/realtime-node.js';
import { attachWebSocket } from '../realtime/transports/websocket.js';
import { createStorage } from '../storage/index.js';
import { resolve as resolvePath } from 'node:path';
import { Readable } from 'node:stream';
import { MycelError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { listenError } from './listen-check.js';
import { claimServeResources } from './serve-claim.js';

/** A running node: what `mycel serve` starts. */
export interface RunningNode {
  readonly core: NodeCore;
  readonly realtime: RealtimeNode;
  /** The node network: server entries, client links, status. */
  readonly network: NetworkNode;
  /** The blob store (blobs.dir). */
  readonly blobs: FsBlobStore;
  /** The shared node's client tokens (blobs.authGroup); null when the store is private. */
  readonly clientTokens: ClientTokens | null;
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
        id: config.node.id,
        name: config.node.name,
        ownerPassword: config.owner.password,
        remoteOwner:
          config.owner.remoteNodeId && config.owner.remoteNodePassword
            ? { nodeId: config.owner.remoteNodeId, password: config.owner.remoteNodePassword }
            : undefined,
      },
      sessionMinutes: sessionMinutes(config),
      channelPolicy: namespaceChannelPolicy(parts.namespaces ?? new Namespaces(config.realtime)),
      log,
    });
  } catch (err) {
    await storage.close();
    throw err;
  }
}

/**
 * Session length in minutes: server.sessionMinutes, or for the test suite only
 * MYCEL_TEST_SESSION_SECONDS (so tests can watch node sessions expire and be renewed).
 */
function sessionMinutes(config: Config): number {
  const seconds = Number(process.env['MYCEL_TEST_SESSION_SECONDS'] ?? '');
  return Number.isFinite(seconds) && seconds > 0 ? seconds / 60 : config.server.sessionMinutes;
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
  // An unknown group stops the start before anything is created or claimed.
  const group = config.blobs.authGroup === undefined ? null : await resolveGroup(config.blobs.authGroup);
  if (group !== null) {
    if (config.blobs.clientTokenGraceSeconds > config.blobs.clientTokenRotateSeconds) {
      throw new MycelError('AUTH_GROUP_FAILED', { reason: 'blobs.clientTokenGraceSeconds is longer than blobs.clientTokenRotateSeconds' }, 'blobs.clientTokenGraceSeconds must be at most blobs.clientTokenRotateSeconds');
    }
    assertOutsideDataDir(resolveBlobsDir(config), resolveDataDir(config));
  }
  // The port and (on SQLite) the data directory are claimed before anything is created.
  const claim = await claimServeResources(config);
  const core = await openCoreFromConfig(config, log, { namespaces }).catch((err: unknown) => {
    claim.release();
    throw err;
  });
  if (config.compute.mode === 'node' || config.compute.mode === 'standalone') {
    // Projects follow compute.projects: created once, a changed token rotates (docs/compute-queue.md).
    const report = await core.compute.projects.ensure(config.compute.projects).catch(async (err: unknown) => {
      await core.close();
      claim.release();
      throw err;
    });
    if (report.created.length > 0) log.info({ projects: report.created }, 'compute projects created');
    if (report.rotated.length > 0) log.warn({ projects: report.rotated }, 'compute project tokens changed in the configuration: the old tokens no longer open these projects');
    if (report.unconfigured.length > 0) log.warn({ projects: report.unconfigured }, 'compute projects no longer in compute.projects: no token opens them now');
  }
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
  const network = new NetworkNode({
    core,
    settings: { ...config.network, enableWebsocket: config.server.enableWebsocket },
    registry: metrics,
    log: log.child({ module: 'network' }),
  });
  // Writes to other nodes' channels and posts, and compute clients' operations on other nodes'
  // jobs, go to their origin over the network's links; here they run as a peer relayed them.
  const forwarding = new Forwarding({
    links: network,
    // `compute` is assigned below, before the network starts.
    executeForwarded: (nodeId, op) => (isComputeTaskOp(op) ? runRelayedTaskOp(compute, core.compute.clients, op) : core.operator.executeForwarded(nodeId, op)),
    storage: core.storage,
    timeoutMs: config.network.forwardTimeoutMs,
    maxPending: config.network.maxPendingForwards,
    log: log.child({ module: 'forwarding' }),
  });
  network.registerHandler(forwarding);
  core.operator.setRemoteWrites(forwarding);
  core.compute.queue.setRemoteWrites(forwarding);
  const blobsDir = resolveBlobsDir(config);
  const blobs = new FsBlobStore(blobsDir, group === null ? {} : { group: group.gid });
  hashThread.warm();
  let clientTokens: ClientTokens | null = null;
  // Blobs this node knows of but lacks come from the servers it pulls from, verified as stored:
  // on first read (the GET route) and, for blobs.eagerChannels, as their post is committed.
  // Over the links on which this node serves its data, peers may ask for blobs: those the read
  // rule gives them (a registered client node: as its node session over HTTP would; a server
  // this node serves, which gets all of its changes: any blob here).
  network.serveBlobs(async (sha256, peerNodeId) => {
    if (!(await blobs.has(sha256))) return null;
    const registration = await core.storage.getClientNode(peerNodeId);
    const actor: Actor = registration ? { kind: 'node', nodeId: peerNodeId, asOwner: registration.asOwner } : SYSTEM;
    return (await core.operator.canReadBlob(actor, sha256)) ? blobs.read(sha256) : null;
  });
  // Missing bytes come from the servers this node pulls from (HTTP), then from client nodes it
  // pulls from (over their links: this node cannot reach them).
  const blobSource = async (sha256: string): Promise<NodeJS.ReadableStream | null> => {
    let serverError: unknown;
    try {
      const stream = await network.openBlobFromServers(sha256);
      if (stream) return stream;
    } catch (err) {
      serverError = err;
    }
    const stream = await network.openBlobFromClients(sha256);
    if (stream === null && serverError !== undefined) throw serverError;
    return stream;
  };
  const blobFetcher = new BlobFetcher({ store: blobs, source: blobSource, log: log.child({ module: 'blobs' }), maxBytes: config.blobs.maxUploadBytes });
  const detachEager = watchEagerChannels(core.hook, blobFetcher, config.blobs.eagerChannels);
  const computeNode = config.compute.mode === 'node' || config.compute.mode === 'standalone';
  // The aggregation side: jobs, rounds and their merges (docs/compute.md).
  const compute = computeNode
    ? new ComputeService({
        queue: core.compute.queue,
        projects: core.compute.projects,
        storage: core.storage,
        log: log.child({ module: 'compute' }),
        metrics: new ComputeMetrics(metrics),
        roundTimeoutSeconds: config.compute.roundTimeoutSeconds,
        // Results are blobs: recorded through the write path (replicas fetch the bytes like any
        // blob) and pinned, so `mycel blobs gc` keeps them though no post refers to them.
        storeResult: async (bytes) => {
          const stored = await blobs.put(Readable.from([bytes]), { maxBytes: MAX_RESULT_BLOB_BYTES });
          await core.operator.recordBlob(SYSTEM, stored, 'application/json');
          await core.operator.blobs.pin(SYSTEM, stored.sha256);
          return stored.sha256;
        },
        ...computeLeaseSeconds(),
      })
    : undefined;
  let computeSweep: NodeJS.Timeout | undefined;
  let computeClient: ComputeClientLoop | undefined;
  const joinAbort = new AbortController();
  let joining: Promise<void> | undefined;
  let detachProgress: (() => void) | undefined;
  let shuttingDown = false;
  let app: FastifyInstance;
  let ws: ReturnType<typeof attachWebSocket> | undefined;
  let linkWs: { close(): Promise<void> } | undefined;
  /**
   * The first steps of closing, the same after a failed start: the compute side, then the node
   * links, closed with a message (client nodes reconnect elsewhere or later), so no import is
   * cut by the write path closing under it.
   */
  const stopComputeAndLinks = async (): Promise<void> => {
    joinAbort.abort();
    await joining;
    if (computeSweep) clearInterval(computeSweep);
    detachProgress?.();
    compute?.close();
    clientTokens?.close();
    detachEager();
    await network.stop();
    forwarding.close();
    await linkWs?.close();
  };
  try {
    if (group !== null) {
      // A lab's shared node (docs/shared-node.md): the store readable by the group, the node's
      // id and the group's client token in it; members read blobs straight from a mount of it.
      if (await closeDataDir(resolveDataDir(config))) log.info({ dataDir: resolveDataDir(config) }, 'data directory closed to group and others: its database is the node\'s alone');
      await shareWithGroup(blobsDir, group.gid);
      for (const path of await unreachableAncestors(blobsDir, group.gid)) {
        log.warn({ path, group: group.name }, 'members of the auth group cannot pass through this directory to reach the blob store (it needs o+x, or g+x for the group)');
      }
      await writeNodeIdFile(blobsDir, core.node.id, group.gid);
      clientTokens = new ClientTokens({
        dir: blobsDir,
        gid: group.gid,
        rotateMs: config.blobs.clientTokenRotateSeconds * 1000,
        graceMs: config.blobs.clientTokenGraceSeconds * 1000,
        log: log.child({ module: 'blobs' }),
      });
      await clientTokens.start();
      log.info({ dir: blobsDir, group: group.name, gid: group.gid }, 'blob store shared with the auth group');
    }
    const issuedTokens = clientTokens;
    app = await buildHttpApp({
      config,
      core,
      log,
      metrics,
      actorResolvers: [...(issuedTokens === null ? [] : [clientTokenResolver((token) => issuedTokens.accepts(token))]), jwtActorResolver(tokens)],
      isShuttingDown: () => shuttingDown,
      readinessChecks: backends.readiness,
      network,
      nodeLinks: network.linkServer,
      blobs,
      blobFetcher,
      ...(compute ? { compute } : {}),
    });
    // server.enableWebsocket: false leaves SSE and HTTP only, for realtime clients and node links.
    await registerRealtimeRoutes(app, { realtime, config, uniWebSocket: config.server.enableWebsocket });
    if (config.server.enableWebsocket) {
      ws = attachWebSocket(app.server, realtime);
      linkWs = serveLinkWebSocket(app.server, config.network.maxMessageBytes, network.linkServer);
    } else {
      const unroute = refuseLinkWebSocket(app.server);
      linkWs = { close: async () => unroute() };
    }
    await app.listen({ host: config.server.host, port: config.server.port });
    await network.start();
    // A further aggregation node joins the network of compute.join.url (first start only).
    const joinTarget = computeNetworkJoin(config, network);
    if (joinTarget) joining = joinComputeNetwork(joinTarget, { nodeId: core.node.id, servers: network, log: log.child({ module: 'compute-join' }), signal: joinAbort.signal }).catch((err: unknown) => log.error({ err }, 'compute network join failed'));
    if (compute) {
      detachProgress = publishComputeProgress(core, realtime, namespaces, log);
      // Rounds left waiting by a crash, and rounds ended by exhausted leases, are merged here.
      await compute.resume();
      computeSweep = setInterval(() => void compute.resume(), Math.max(1000, config.compute.heartbeatSeconds * 1000));
      computeSweep.unref();
    }
    if (config.compute.mode === 'client' || config.compute.mode === 'standalone') {
      computeClient = await startComputeClient(config, core, listeningUrl(app, config), log);
    }
  } catch (err) {
    await stopComputeAndLinks();
    detachPersistence();
    await realtime.shutdown(0);
    await ws?.close();
    await backends.close();
    await core.close();
    claim.release();
    throw listenError(err, config.server.host, config.server.port);
  }
  const url = listeningUrl(app, config);
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  log.info({ url, nodeId: core.node.id, name: core.node.name, port, realtime: backends.kind }, 'listening');
  if (config.compute.mode !== 'off') {
    log.info({ mode: config.compute.mode, datasources: config.compute.datasources.length, projects: config.compute.projects.length, clientId: computeClient?.clientId ?? null }, 'federated compute running');
  }

  let closing: Promise<void> | undefined;
  return {
    core,
    realtime,
    network,
    blobs,
    clientTokens,
    app,
    url,
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        // The compute client first (its task's worker thread with it), then the merges.
        await computeClient?.stop();
        await stopComputeAndLinks();
        // Realtime clients next, with "reconnect" advice (3001), given server.shutdownGraceSeconds to
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

function listeningUrl(app: FastifyInstance, config: Config): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.port;
  const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host;
  return `http://${host}:${port}`;
}

/** For the test suite only: MYCEL_TEST_COMPUTE_LEASE_SECONDS shortens task leases (so tests watch one expire). */
function computeLeaseSeconds(): { leaseSeconds?: number } {
  const seconds = Number(process.env['MYCEL_TEST_COMPUTE_LEASE_SECONDS'] ?? '');
  return Number.isInteger(seconds) && seconds > 0 ? { leaseSeconds: seconds } : {};
}

/**
 * The compute client (modes client and standalone): joins compute.join.url on its first start
 * and polls it. A standalone node without compute.join.url is its own aggregation node: it
 * joins itself, with an invitation it issues itself on the first start.
 */
async function startComputeClient(config: Config, core: NodeCore, ownUrl: string, log: Logger): Promise<ComputeClientLoop> {
  const dataDir = resolveDataDir(config);
  const url = config.compute.join.url ?? (config.compute.mode === 'standalone' ? ownUrl : undefined);
  if (url === undefined) throw new MycelError('CONFIG_INVALID', { key: 'compute.join.url' }, 'compute.mode client needs compute.join.url (the aggregation node to join)');
  let invitation = config.compute.join.invitation;
  if (invitation === undefined && config.compute.join.url === undefined) {
    const state = await loadClientState(dataDir);
    if (!state.clientId || state.url !== url) invitation = (await core.compute.clients.createInvitation(OWNER, 600)).secret;
  }
  const client = new ComputeClientLoop({
    url,
    dataDir,
    invitation,
    name: core.node.name,
    datasources: config.compute.datasources.map((d) => ({ name: d.name, kind: d.kind, type: d.type, path: resolvePath(d.path), tokens: [...d.tokens] })),
    heartbeatSeconds: config.compute.heartbeatSeconds,
    log: log.child({ module: 'compute-client' }),
  });
  await client.start();
  return client;
}

/** The realtime channel of compute progress (docs/compute.md "Live progress"). */
export const COMPUTE_PROGRESS_CHANNEL = 'compute:jobs';

/**
 * Live job progress: every committed compute job or task change of this node is published on
 * `compute:jobs` (ids, round, status, client: never an input, output, result or error), when the
 * realtime namespace `compute` is configured: who may subscribe is that namespace's setting
 * (owner only, typically), so nothing is published where nobody chose the audience.
 */
function publishComputeProgress(core: NodeCore, realtime: RealtimeNode, namespaces: Namespaces, log: Logger): () => void {
  const resolved = namespaces.tryResolve(COMPUTE_PROGRESS_CHANNEL);
  if (resolved === 'bad' || resolved === 'unknown') return () => undefined;
  return core.hook.on((changes) => {
    for (const change of changes) {
      if (change.originNodeId !== core.node.id || !change.type.startsWith('compute.')) continue;
      const job = change.payload['job'] as { id: string; projectId: string; status: string; round: number } | undefined;
      const task = change.payload['task'] as { id: string; jobId: string; round: number; clientId: string; status: string; attempts: number } | undefined;
      const event = job
        ? { type: change.type, jobId: job.id, projectId: job.projectId, status: job.status, round: job.round }
        : task
          ? { type: change.type, jobId: task.jobId, taskId: task.id, clientId: task.clientId, status: task.status, round: task.round, attempts: task.attempts }
          : null;
      if (event === null) continue;
      realtime.publish(COMPUTE_PROGRESS_CHANNEL, event).catch((err: unknown) => log.warn({ err, jobId: event.jobId }, 'compute progress not published'));
    }
  });
}
