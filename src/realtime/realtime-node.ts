/**
 * The realtime node: the API that transports, the server HTTP API and the domain use, and the
 * place its parts are put together.
 *
 * Transports call `connect(transport, meta)` and feed the returned ClientConnection. The server
 * API calls publish/presence/history/… (these skip client permissions: the API key is the
 * authority) and the user operations, which travel over the Bus as control messages
 * (control-channel.ts) so every instance acts on its own connections. The domain's commit
 * listener calls `deliverCommitted` after a post in a persisted namespace is committed.
 *
 * Its parts, one job each: ConnectionRegistry (this instance's connections), ControlChannel
 * (control messages), ClusterSurvey (the other instances and their channels), serverSubscribe
 * (server-side subscriptions), the Hub (fan-out); what is left here is the front door:
 * publish, history, presence.
 */
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { MycelError } from '../errors.js';
import { waitAtMost } from '../lib/wait.js';
import type { Logger } from '../log.js';
import { TokenVerifier } from './auth/tokens.js';
import type { Bus } from './bus.js';
import { ClientConnection } from './client-connection.js';
import { ClusterSurvey } from './cluster-survey.js';
import { ConnectionRegistry, type ConnectionEvents } from './connection-registry.js';
import {
  DEFAULT_TUNING,
  type ConnectCredentials,
  type PublishOptions,
  type RealtimeConfig,
  type RealtimeContext,
  type RealtimeTuning,
  type RpcHandler,
  type SendHandler,
} from './context.js';
import { ControlChannel, type DisconnectUserOptions, type RefreshUserOptions } from './control-channel.js';
import type { HistoryStore } from './history-store.js';
import { Hub } from './hub.js';
import { RealtimeMetrics } from './metrics.js';
import { keepsStream, Namespaces, type ResolvedChannel } from './namespaces.js';
import type { Persistence } from './persist.js';
import type { PresenceStore } from './presence-store.js';
import { DISCONNECTS, ERRORS, ReplyError } from './protocol/codes.js';
import { serverSubscribe } from './server-subscribe.js';
import type { ConnectionMeta, Transport } from './transport.js';
import { epochMatches, type ClientInfo, type HistoryResult, type NodeStats, type Publication, type StreamPosition } from './types.js';

export type { DisconnectUserOptions, RefreshUserOptions } from './control-channel.js';

export interface RealtimeNodeOptions {
  config: RealtimeConfig;
  bus: Bus;
  history: HistoryStore;
  presence: PresenceStore;
  /** Prometheus registry for the realtime metrics; none = no metrics exported. */
  registry?: Registry;
  log: Logger;
  /** This instance's id (server API `info`, emulation routing); random by default. */
  instanceId?: string;
  name?: string;
  version?: string;
  /** The node's one reading of the namespace settings (shared with the domain); built from `config` by default. */
  namespaces?: Namespaces;
  /** Verifies connect and subscription tokens (shared with HTTP's JWT resolver); built from `config` (apiKey, token*) by default. */
  tokens?: TokenVerifier;
  /** Required when a namespace has `persist: true`. */
  persist?: Persistence;
  /** Accepts connect tokens that are not JWTs (owner sessions). */
  credentials?: ConnectCredentials;
  tuning?: Partial<RealtimeTuning>;
}

export interface HistoryOptions {
  /** 0 = position only, -1 = everything kept, n = at most n. */
  limit?: number;
  since?: StreamPosition;
  reverse?: boolean;
}

export class RealtimeNode {
  readonly instanceId: string;
  readonly name: string;
  readonly version: string;
  readonly config: RealtimeConfig;
  readonly namespaces: Namespaces;
  readonly metrics: RealtimeMetrics;
  readonly hub: Hub;
  readonly #bus: Bus;
  readonly #history: HistoryStore;
  readonly #presence: PresenceStore;
  readonly #persist: Persistence | undefined;
  readonly #log: Logger;
  readonly #tuning: RealtimeTuning;
  readonly #ctx: RealtimeContext;
  readonly #startedAt = Date.now();
  readonly #connections = new ConnectionRegistry();
  readonly #survey: ClusterSurvey;
  readonly #control: ControlChannel;
  readonly #rpc = new Map<string, RpcHandler>();
  #send: SendHandler | undefined;
  readonly #ticker: NodeJS.Timeout;
  #shutdown: Promise<void> | undefined;

  constructor(options: RealtimeNodeOptions) {
    this.config = options.config;
    this.instanceId = options.instanceId ?? randomUUID();
    this.name = options.name ?? this.instanceId;
    this.version = options.version ?? '0.1.0';
    this.#bus = options.bus;
    this.#history = options.history;
    this.#presence = options.presence;
    this.#persist = options.persist;
    this.#log = options.log.child({ module: 'realtime' });
    this.#tuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.namespaces = options.namespaces ?? new Namespaces(this.config);
    this.namespaces.onUnknownNamespace((namespace, message) => this.#log.warn({ namespace }, message));
    const persisted = [['', this.config.channel] as const, ...Object.entries(this.config.namespaces)].filter(([, o]) => o.persist);
    if (persisted.length > 0 && !this.#persist) {
      throw new MycelError('CONFIG_INVALID', { namespaces: persisted.map(([n]) => n) }, 'a namespace has persist: true but no persistence is wired');
    }
    this.metrics = new RealtimeMetrics(options.registry, () => ({
      connections: this.#connections.connectedCount,
      subscriptions: this.hub.subscriptionCount,
      channels: this.hub.channelCount,
    }));
    this.hub = new Hub({
      bus: this.#bus,
      metrics: this.metrics,
      log: this.#log,
      streamTop: (channel) => this.#streamTop(channel),
    });
    this.#ctx = {
      config: this.config,
      tuning: this.#tuning,
      instanceId: this.instanceId,
      version: this.version,
      namespaces: this.namespaces,
      tokens: options.tokens ?? TokenVerifier.fromConfig(this.config, { log: this.#log }),
      hub: this.hub,
      bus: this.#bus,
      presence: this.#presence,
      metrics: this.metrics,
      log: this.#log,
      credentials: options.credentials,
      rpcHandler: (method) => this.#rpc.get(method),
      sendHandler: () => this.#send,
      publish: (resolved, data, opts, actor) => this.#publish(resolved, data, opts, actor),
      history: (resolved, query) => this.#readHistory(resolved, query),
      publishJoinLeave: (channel, type, info) => this.#publishJoinLeave(channel, type, info),
    };
    this.#survey = new ClusterSurvey({
      bus: this.#bus,
      hub: this.hub,
      instanceId: this.instanceId,
      nodeInfoIntervalMs: this.#tuning.nodeInfoIntervalMs,
      stats: () => this.stats(),
      metrics: this.metrics,
      log: this.#log,
    });
    const subscribeDeps = { namespaces: this.namespaces, metrics: this.metrics, log: this.#log };
    this.#control = new ControlChannel({
      bus: this.#bus,
      instanceId: this.instanceId,
      connections: this.#connections,
      survey: this.#survey,
      namespaces: this.namespaces,
      serverSubscribe: (conn, channel) => serverSubscribe(conn, channel, subscribeDeps),
    });
    this.#bus.setHandler({
      onMessage: (channel, message) => this.hub.handleMessage(channel, message),
      onControl: (command) => this.#control.handle(command),
      onReconnect: () => {
        this.hub.handleReconnect().catch((err: unknown) => {
          this.metrics.error('reconnect_check');
          this.#log.error({ err }, 'checking positions after bus reconnect failed');
        });
      },
    });
    this.#ticker = setInterval(() => this.#connections.tick(Date.now()), this.#tuning.tickMs);
    this.#ticker.unref();
  }

  // ---- transports and connections --------------------------------------------------------

  /** A new client connection on a transport. The transport feeds `handleFrame` and `onTransportClosed`. */
  connect(transport: Transport, meta: ConnectionMeta = {}): ClientConnection {
    const conn = new ClientConnection(this.#ctx, transport, meta, this.#connections);
    this.#connections.add(conn);
    if (this.#shutdown) conn.close(DISCONNECTS.shutdown);
    return conn;
  }

  /** The connection an emulation request belongs to, by the `session` key of its connect result. */
  connectionByKey(key: string): ClientConnection | undefined {
    return this.#connections.byKey(key);
  }

  /** A connected connection by client id (this instance only). */
  connectionByClient(client: string): ClientConnection | undefined {
    return this.#connections.byClient(client);
  }

  /** Connected connections of a user on this instance. */
  userConnections(user: string): ClientConnection[] {
    return this.#connections.ofUser(user);
  }

  on<E extends keyof ConnectionEvents>(event: E, listener: ConnectionEvents[E]): () => void {
    return this.#connections.on(event, listener);
  }

  /** Registers the handler of an rpc method (clients' `rpc` command). */
  registerRpc(method: string, handler: RpcHandler): void {
    this.#rpc.set(method, handler);
  }

  /** Sets the handler of clients' `send` command (fire-and-forget messages). */
  onSend(handler: SendHandler | undefined): void {
    this.#send = handler;
  }

  // ---- control messages (every instance acts on its own connections) ---------------------

  /** See ControlChannel.emulate. */
  emulate(node: string, sessionKey: string, data: string): Promise<boolean> {
    return this.#control.emulate(node, sessionKey, data);
  }

  /** Subscribes a user's connections (or one client) to a channel, server-side. */
  subscribeUser(user: string, channel: string, client?: string): Promise<void> {
    return this.#control.subscribeUser(user, channel, client);
  }

  /** Unsubscribes a user's connections (or one client) from a channel (unsubscribe push 2000). */
  unsubscribeUser(user: string, channel: string, client?: string): Promise<void> {
    return this.#control.unsubscribeUser(user, channel, client);
  }

  /** Disconnects a user's connections; by default with 3503 (force disconnect, no reconnect). */
  disconnectUser(user: string, options: DisconnectUserOptions = {}): Promise<void> {
    return this.#control.disconnectUser(user, options);
  }

  /** Refreshes a user's connections from the server side: a new expiry, or expired now. */
  refreshUser(user: string, options: RefreshUserOptions = {}): Promise<void> {
    return this.#control.refreshUser(user, options);
  }

  // ---- publishing ------------------------------------------------------------------------

  /** Resolves a channel for the server API; throws ReplyError 102/107. */
  resolve(channel: string): ResolvedChannel {
    return this.namespaces.resolve(channel);
  }

  /**
   * Publishes to a channel (server API and node-internal use). Persisted namespaces store a post
   * first and resolve after commit. Resolves with the publication's stream position, if any.
   */
  async publish(channel: string, data: unknown, options: PublishOptions = {}): Promise<{ offset?: number; epoch?: string }> {
    const resolved = this.namespaces.resolve(channel);
    const { position } = await this.#publish(resolved, data, options, null);
    if (!position) return {};
    return { offset: position.offset, epoch: position.epoch };
  }

  /**
   * Where a publication goes is decided here, once: a persisted namespace's goes to the write
   * path as a post (whose author is the actor, with the publisher's `info` kept; `tags` and
   * `skipHistory` do not apply, see persist.ts), any other's to the Bus.
   */
  async #publish(
    resolved: ResolvedChannel,
    data: unknown,
    options: PublishOptions,
    actor: { user: string; owner: boolean } | null,
  ): Promise<{ position: StreamPosition | null }> {
    const ns = resolved.options;
    if (ns.persist) {
      const request = {
        channel: resolved.channel,
        data,
        actor: actor ? { kind: 'client' as const, user: actor.user, owner: actor.owner } : { kind: 'server' as const },
        ...(options.info ? { info: options.info } : {}),
        ...(options.idempotencyKey !== undefined ? { idempotencyKey: options.idempotencyKey } : {}),
      };
      return { position: await this.#persist!.persist(request) };
    }
    const publication: Publication = { offset: 0, data, time: Date.now() };
    if (options.info) publication.info = options.info;
    if (options.tags && Object.keys(options.tags).length > 0) publication.tags = options.tags;
    const history =
      !options.skipHistory && ns.historySize > 0
        ? { size: ns.historySize, ttlSeconds: ns.historyTtlSeconds, metaTtlSeconds: this.#tuning.streamMetaTtlSeconds }
        : undefined;
    const position = await this.#bus.publish(resolved.channel, { type: 'pub', publication }, history);
    return { position };
  }

  /**
   * The domain's after-commit path for persisted namespaces: fans a committed post event
   * (creation, edit, delete) out to the channel's subscribers on every instance. The
   * publication's offset is the event's offset in the channel's stream and `epoch` the
   * channel's stream epoch. The caller (the commit listener) has decided that the
   * channel is in a persisted namespace.
   */
  deliverCommitted(channel: string, publication: Publication, epoch: string): Promise<void> {
    return this.#bus.publish(channel, { type: 'pub', publication, epoch }).then(
      () => undefined,
      (err: unknown) => {
        // Subscribers see the offset gap with the next post and recover from the database.
        this.metrics.error('deliver_committed');
        this.#log.error({ err, channel, offset: publication.offset }, 'fan-out of a committed post failed');
      },
    );
  }

  #publishJoinLeave(channel: string, type: 'join' | 'leave', info: ClientInfo): void {
    this.#bus.publish(channel, { type, info }).catch((err: unknown) => {
      this.metrics.error(`publish_${type}`);
      this.#log.warn({ err, channel }, `publishing ${type} failed`);
    });
  }

  // ---- history and presence --------------------------------------------------------------

  async #readHistory(resolved: ResolvedChannel, query: { limit: number; since?: StreamPosition; reverse?: boolean }): Promise<HistoryResult> {
    const full = { ...query, metaTtlSeconds: this.#tuning.streamMetaTtlSeconds };
    if (resolved.options.persist) return this.#persist!.history(resolved.channel, full);
    return this.#history.history(resolved.channel, full);
  }

  async #streamTop(channel: string): Promise<StreamPosition | null> {
    const resolved = this.namespaces.tryResolve(channel);
    if (typeof resolved === 'string') return null;
    if (!keepsStream(resolved.options)) return null;
    return (await this.#readHistory(resolved, { limit: 0 })).position;
  }

  /** Channel history (server API); `since` with another epoch → ReplyError 112. */
  async history(channel: string, options: HistoryOptions = {}): Promise<HistoryResult> {
    const resolved = this.namespaces.resolve(channel);
    if (!keepsStream(resolved.options)) throw new ReplyError(ERRORS.notAvailable);
    const limit = options.limit === undefined ? 0 : options.limit < 0 ? -1 : options.limit;
    const result = await this.#readHistory(resolved, {
      limit,
      ...(options.since ? { since: options.since } : {}),
      ...(options.reverse ? { reverse: true } : {}),
    });
    if (options.since && !epochMatches(options.since.epoch, result.position.epoch)) {
      throw new ReplyError(ERRORS.unrecoverablePosition);
    }
    return result;
  }

  /** Drops a channel's history; its position (offset, epoch) stays. Not for persisted namespaces. */
  async removeHistory(channel: string): Promise<void> {
    const resolved = this.namespaces.resolve(channel);
    if (resolved.options.persist) throw new ReplyError(ERRORS.notAvailable, 'persisted history is posts; delete them instead');
    await this.#history.removeHistory(channel);
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    const resolved = this.namespaces.resolve(channel);
    if (!resolved.options.presenceEnabled) throw new ReplyError(ERRORS.notAvailable);
    return this.#presence.presence(channel);
  }

  async presenceStats(channel: string): Promise<{ numClients: number; numUsers: number }> {
    const resolved = this.namespaces.resolve(channel);
    if (!resolved.options.presenceEnabled) throw new ReplyError(ERRORS.notAvailable);
    return this.#presence.stats(channel);
  }

  /** Replaces a user's conn/chan info in a channel's presence (all of the user's clients there). */
  updateUserInfo(channel: string, user: string, update: { connInfo?: unknown; chanInfo?: unknown }): Promise<void> {
    this.namespaces.resolve(channel);
    return this.#presence.updateUserInfo(channel, user, update);
  }

  /** Channels where the user has a live client, across instances. */
  userChannels(user: string): Promise<string[]> {
    return this.#presence.userChannels(user);
  }

  /** Removes all of a user's clients from every channel's presence; returns those channels. */
  removeUserPresence(user: string): Promise<string[]> {
    return this.#presence.removeUser(user);
  }

  // ---- the cluster -----------------------------------------------------------------------

  /**
   * Channels with subscribers on this instance, with their local client counts, optionally
   * filtered by a glob pattern (`*` matches any run of characters).
   */
  channels(pattern?: string): Record<string, { numClients: number }> {
    const out: Record<string, { numClients: number }> = {};
    for (const [channel, numClients] of Object.entries(this.#survey.localChannels(pattern))) out[channel] = { numClients };
    return out;
  }

  /** Channels with subscribers on any instance, with summed counts; see ClusterSurvey.clusterChannels. */
  clusterChannels(pattern?: string, timeoutMs = 1000): Promise<Record<string, { numClients: number }>> {
    return this.#survey.clusterChannels(pattern, timeoutMs);
  }

  /** This instance's stats. */
  stats(): NodeStats {
    return {
      uid: this.instanceId,
      name: this.name,
      version: this.version,
      numClients: this.#connections.connectedCount,
      numUsers: this.#connections.userCount,
      numChannels: this.hub.channelCount,
      numSubs: this.hub.subscriptionCount,
      uptime: Math.floor((Date.now() - this.#startedAt) / 1000),
      updatedAt: Date.now(),
    };
  }

  /** Every live instance (this one and those that announced themselves recently). */
  info(): { nodes: NodeStats[] } {
    return this.#survey.info();
  }

  // ---- shutdown --------------------------------------------------------------------------

  /**
   * Graceful shutdown: every client is disconnected with 3001 (shutdown, reconnect), and the
   * presence they leave is removed, waiting at most `graceMs` for that. The Bus and the stores
   * stay open: their owner closes them.
   */
  shutdown(graceMs = 5000): Promise<void> {
    this.#shutdown ??= (async () => {
      clearInterval(this.#ticker);
      this.#survey.stop();
      const closing: Promise<void>[] = [];
      for (const conn of this.#connections.all()) {
        conn.close(DISCONNECTS.shutdown);
        closing.push(conn.closed);
      }
      await waitAtMost(Promise.allSettled(closing), graceMs);
    })();
    return this.#shutdown;
  }
}
