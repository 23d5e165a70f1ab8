/**
 * The node network service: the server entries this node connects to (config and run time),
 * the links client nodes open to it, their status and metrics. Transport-free at this level:
 * the node assembly mounts the WebSocket endpoint and the HTTP routes hand the SSE transport
 * here (`linkServer`).
 */
import type { NodeCore } from '../domain/node-core.js';
import { MycelError } from '../errors.js';
import type { Logger } from '../log.js';
import { changeChannelNames } from '../domain/change-scope.js';
import type { ServerRole, ServerTransport } from '../model/network.js';
import type { Registry } from 'prom-client';
import { BlobTransfer, type LocalBlobSource } from './blob-transfer.js';
import type { LinkChannel, LinkMessageHandler } from './link.js';
import { LinkServer } from './link-server.js';
import type { ReplicationContext } from './link-replication.js';
import { NetworkMetrics } from './metrics.js';
import type { NodeProfile } from './protocol.js';
import { ServerConnection, type ServerEntry } from './server-connection.js';
import type { LinkStatus, NetworkService, NetworkStatus, ServerEntryView } from './network-service.js';

export type { LinkStatus, NetworkService, NetworkStatus, ServerEntryView } from './network-service.js';

export interface NetworkSettings {
  servers: readonly { url: string; password: string; role: ServerRole; transport: ServerTransport }[];
  changesChunkSize: number;
  maxMessageBytes: number;
  creditWindow: number;
  /** server.enableWebsocket */
  enableWebsocket: boolean;
}

export interface NetworkNodeDeps {
  core: NodeCore;
  settings: NetworkSettings;
  registry: Registry;
  log: Logger;
}

function viewOf(entry: ServerEntry): ServerEntryView {
  return { id: entry.id, url: entry.url, role: entry.role, transport: entry.transport, source: entry.fromConfig ? 'config' : 'runtime', createdAt: entry.fromConfig ? null : entry.createdAt };
}

export class NetworkNode implements NetworkService {
  readonly #deps: NetworkNodeDeps;
  readonly #handlers: LinkMessageHandler[] = [];
  readonly #connections = new Map<string, ServerConnection>();
  readonly #metrics: NetworkMetrics;
  readonly #self: NodeProfile;
  readonly #context: ReplicationContext;
  readonly linkServer: LinkServer;
  #started = false;
  #stopped = false;
  #blobTransfer: BlobTransfer | null = null;

  constructor(deps: NetworkNodeDeps) {
    this.#deps = deps;
    const { core, settings } = deps;
    this.#metrics = new NetworkMetrics(deps.registry);
    this.#self = { id: core.node.id, name: core.node.name, createdAt: core.node.createdAt };
    this.#context = {
      reader: core.storage,
      onLogAdvance: (listener) => core.storage.onLogAdvance(listener),
      importer: core.replication,
      chunkSize: settings.changesChunkSize,
      window: settings.creditWindow,
      metrics: this.#metrics,
    };
    this.linkServer = new LinkServer({
      self: this.#self,
      authenticate: (token) => core.sessions.authenticate(token),
      getSession: (tokenHash) => core.storage.getSession(tokenHash),
      getClientNode: (id) => core.storage.getClientNode(id),
      recordPeer: (profile) => core.replication.recordPeer(profile),
      channelNamesOf: (change) => changeChannelNames(core.storage, change),
      replication: this.#context,
      handlers: this.#handlers,
      maxMessageBytes: settings.maxMessageBytes,
      log: deps.log,
      countError: (peer, code) => this.#metrics.errors.inc({ peer, code }),
    });
  }

  /** Handlers for message types that are not replication's own (forwarded writes). */
  registerHandler(handler: LinkMessageHandler): void {
    this.#handlers.push(handler);
  }

  /**
   * Serves blobs over the links on which this node serves its data, from `local` (the assembly's
   * glue to the blob store and the read rule), and lets `openBlobFromClients` ask over links.
   */
  serveBlobs(local: LocalBlobSource): void {
    if (this.#blobTransfer) return;
    this.#blobTransfer = new BlobTransfer({
      local,
      log: this.#deps.log,
      servesOn: (link) =>
        [...this.#connections.values()].some((c) => c.link === link && c.status().roles.serve) || this.linkServer.servingLinks().some((l) => l === link),
    });
    this.registerHandler(this.#blobTransfer);
  }

  /**
   * A blob's bytes over the open links of client nodes this node pulls from (role reversal: a
   * client node that is this node's parent, which it cannot reach over HTTP), or null when none
   * has it. Not verified here: the blob fetcher stores them with the expected hash.
   */
  async openBlobFromClients(sha256: string): Promise<NodeJS.ReadableStream | null> {
    if (!this.#blobTransfer) return null;
    let lastError: unknown;
    for (const link of this.linkServer.pullingLinks()) {
      try {
        const stream = await this.#blobTransfer.request(link, sha256);
        if (stream) return stream;
      } catch (err) {
        lastError = err;
      }
    }
    if (lastError !== undefined) throw lastError;
    return null;
  }

  /** Open links where this node pulls from the peer (its parents). */
  parentLinks(): LinkChannel[] {
    const links: LinkChannel[] = [];
    for (const connection of this.#connections.values()) {
      const link = connection.link;
      if (link && connection.status().roles.pull) links.push(link);
    }
    links.push(...this.linkServer.pullingLinks());
    return links;
  }

  /** The open link on which this node pulls from `peerNodeId`. */
  linkTo(peerNodeId: string): LinkChannel | undefined {
    return this.parentLinks().find((link) => link.peerNodeId === peerNodeId);
  }

  /**
   * A blob's bytes from the first server entry this node pulls from that has it (the node it
   * got the post from), or null. The blob fetcher (src/blobs/blob-fetcher.ts) verifies them.
   */
  async openBlobFromServers(sha256: string): Promise<NodeJS.ReadableStream | null> {
    let lastError: unknown;
    for (const connection of this.#connections.values()) {
      if (!connection.status().roles.pull) continue;
      try {
        const stream = await connection.openBlob(sha256);
        if (stream) return stream;
      } catch (err) {
        lastError = err;
      }
    }
    if (lastError !== undefined) throw lastError;
    return null;
  }

  /** Connects to the configured and stored servers. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const now = Date.now();
    this.#deps.settings.servers.forEach((server, i) => {
      this.#connect({ id: `config-${i + 1}`, url: server.url.replace(/\/+$/, ''), password: server.password, role: server.role, transport: server.transport, fromConfig: true, createdAt: now });
    });
    for (const record of await this.#deps.core.networkServers.list()) this.#connect({ ...record, fromConfig: false });
  }

  #connect(entry: ServerEntry): void {
    if (this.#stopped) return;
    const connection = new ServerConnection(entry, {
      self: this.#self,
      replication: this.#context,
      recordPeer: (profile) => this.#deps.core.replication.recordPeer(profile),
      handlers: this.#handlers,
      maxMessageBytes: this.#deps.settings.maxMessageBytes,
      log: this.#deps.log.child({ server: entry.url }),
      countError: (peer, code) => this.#metrics.errors.inc({ peer, code }),
      webSocket: this.#deps.settings.enableWebsocket,
    });
    this.#connections.set(entry.id, connection);
    connection.start();
  }

  /** Closes every link cleanly: server entries stop reconnecting, client links are told the node is shutting down. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.linkServer.close();
    await Promise.all([...this.#connections.values()].map((c) => c.stop()));
  }

  status(): NetworkStatus {
    return { servers: [...this.#connections.values()].map((c) => c.status()), clients: this.linkServer.status() };
  }

  async addServer(entry: { url: string; password: string; role: ServerRole; transport?: ServerTransport }): Promise<ServerEntryView> {
    const record = await this.#deps.core.networkServers.add({ ...entry, url: entry.url.replace(/\/+$/, '') });
    const server: ServerEntry = { ...record, fromConfig: false };
    this.#connect(server);
    return viewOf(server);
  }

  async removeServer(id: string): Promise<void> {
    const connection = this.#connections.get(id);
    if (connection?.entry.fromConfig) throw new MycelError('NETWORK_SERVER_FROM_CONFIG', { id });
    const removed = await this.#deps.core.networkServers.remove(id);
    if (!removed && !connection) throw new MycelError('NETWORK_SERVER_NOT_FOUND', { id });
    if (connection) {
      this.#connections.delete(id);
      await connection.stop();
    }
  }

  listServers(): ServerEntryView[] {
    return [...this.#connections.values()].map((c) => viewOf(c.entry));
  }

  /** For tests and status: the status of one server entry. */
  serverStatus(id: string): LinkStatus | undefined {
    return this.#connections.get(id)?.status();
  }
}
