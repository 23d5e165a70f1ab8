/**
 * The realtime node: the API that transports, the server HTTP API and the domain use.
 *
 * Transports call `connect(transport, meta)` and feed the returned ClientConnection. The server API
 * calls publish/broadcast/presence/history/… (these skip client permissions: the API key is
 * the authority) and the user operations, which travel over the Bus as control commands so
 * every instance acts on its own connections. The domain calls `deliverCommitted` after a post
 * in a persisted namespace is committed.
 */
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { MycelError } from '../errors.js';
import { waitAtMost } from '../lib/wait.js';
import type { Logger } from '../log.js';
import { TokenVerifier } from './auth/tokens.js';
import type { Bus } from './bus.js';
import { establishSubscription } from './handlers/subscribe.js';
import {
  DEFAULT_TUNING,
  type CredentialsHook,
  type PublishOptions,
  type RealtimeConfig,
  type RealtimeContext,
  type RealtimeTuning,
  type RpcHandler,
  type SendHandler,
} from './context.js';
import type { HistoryStore } from './history-store.js';
import { Hub } from './hub.js';
import { RealtimeMetrics } from './metrics.js';
import { Namespaces, type ResolvedChannel } from './namespaces.js';
import type { PersistHook } from './persist.js';
import type { PresenceStore } from './presence-store.js';
import { DISCONNECTS, ERRORS, ReplyError, type DisconnectCode } from './protocol/codes.js';
import { encodeSubscribePush } from './protocol/frames.js';
import { ClientConnection, type ConnectionLifecycle } from './client-connection.js';
import type { ConnectionMeta, Transport } from './transport.js';
import type { ClientInfo, ControlCommand, HistoryResult, NodeStats, Publication, StreamPosition } from './types.js';

export interface RealtimeNodeOptions {
  config: RealtimeConfig;
  bus: Bus;
  history: HistoryStore;
  presence: PresenceStore;
  /** Prometheus registry for the realtime metrics; none = no metrics exported. */
  registry?: Registry;
  log: Logger;
  /** This instance's id (server API `info`, emulation routing); random by default. */
  nodeId?: string;
  name?: string;
  version?: string;
  /** Required when a namespace has `persist: true`. */
  persist?: PersistHook;
  /** Accepts connect tokens that are not JWTs (owner sessions). */
  credentials?: CredentialsHook;
  tuning?: Partial<RealtimeTuning>;
}

export interface HistoryOptions {
  /** 0 = position only, -1 = everything kept, n = at most n. */
  limit?: number;
  since?: StreamPosition;
  reverse?: boolean;
}

export interface DisconnectUserOptions {
  client?: string;
  /** Client ids to keep connected. */
  whitelist?: string[];
  /** Default: 3503 force disconnect (terminal). Use 3011 force reconnect to let clients come back. */
  disconnect?: DisconnectCode;
}

export interface RefreshUserOptions {
  client?: string;
  /** Disconnect the user's connections as expired (3005). */
  expired?: boolean;
  /** New expiry, unix seconds (0 = never). */
  expireAt?: number;
}

/** A per-channel outcome of broadcast; mirrors the server API's `{result}|{error}`. */
export type BroadcastOutcome = { result: { offset?: number; epoch?: string } } | { error: { code: number; message: string } };

export interface NodeEvents {
  connect: (session: ClientConnection) => void;
  disconnect: (session: ClientConnection, code: number, reason: string) => void;
}

export class RealtimeNode {
  readonly nodeId: string;
  readonly name: string;
  readonly version: string;
  readonly config: RealtimeConfig;
  readonly namespaces: Namespaces;
  readonly metrics: RealtimeMetrics;
  readonly hub: Hub;
  readonly #bus: Bus;
  readonly #history: HistoryStore;
  readonly #presence: PresenceStore;
  readonly #persist: PersistHook | undefined;
  readonly #log: Logger;
  readonly #tuning: RealtimeTuning;
  readonly #ctx: RealtimeContext;
  readonly #lifecycle: ConnectionLifecycle = {
    connected: (session) => this.#sessionConnected(session),
    closed: (session, code, reason) => this.#sessionClosed(session, code, reason),
  };
  readonly #startedAt = Date.now();

  /** Every session, connecting ones included. */
  readonly #sessions = new Set<ClientConnection>();
  /** A user's connected sessions: the session itself while it is the only one (the common case, and less memory). */
  readonly #byUser = new Map<string, ClientConnection | Set<ClientConnection>>();
  readonly #byClient = new Map<string, ClientConnection>();
  readonly #byKey = new Map<string, ClientConnection>();
  readonly #rpc = new Map<string, RpcHandler>();
  #send: SendHandler | undefined;
  readonly #nodes = new Map<string, NodeStats>();
  /** Open `channels` surveys of this instance: request id → collector of the answers. */
  readonly #surveys = new Map<string, (node: string, channels: Record<string, number>) => void>();
  readonly #listeners: { [E in keyof NodeEvents]: Set<NodeEvents[E]> } = { connect: new Set(), disconnect: new Set() };
  readonly #ticker: NodeJS.Timeout;
  readonly #infoTimer: NodeJS.Timeout;
  #shutdown: Promise<void> | undefined;

  constructor(options: RealtimeNodeOptions) {
    this.config = options.config;
    this.nodeId = options.nodeId ?? randomUUID();
    this.name = options.name ?? this.nodeId;
    this.version = options.version ?? '0.1.0';
    this.#bus = options.bus;
    this.#history = options.history;
    this.#presence = options.presence;
    this.#persist = options.persist;
    this.#log = options.log.child({ module: 'realtime' });
    this.#tuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.namespaces = new Namespaces(this.config);
    const persisted = [['', this.config.channel] as const, ...Object.entries(this.config.namespaces)].filter(([, o]) => o.persist);
    if (persisted.length > 0 && !this.#persist) {
      throw new MycelError('CONFIG_INVALID', { namespaces: persisted.map(([n]) => n) }, 'a namespace has persist: true but no persistence is wired');
    }
    this.metrics = new RealtimeMetrics(options.registry, () => ({
      connections: this.#byClient.size,
      subscriptions: this.hub.subscriptionCount,
      channels: this.hub.channelCount,
    }));
    this.hub = new Hub({
      bus: this.#bus,
      metrics: this.metrics,
      log: this.#log,
      streamTop: (channel) => this.#streamTop(channel),
    });
    const tokens = new TokenVerifier(this.config.apiKey);
    this.#ctx = {
      config: this.config,
      tuning: this.#tuning,
      nodeId: this.nodeId,
      version: this.version,
      namespaces: this.namespaces,
      tokens,
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
    this.#bus.setHandler({
      onMessage: (channel, message) => this.hub.handleMessage(channel, message),
      onControl: (command) => this.#handleControl(command),
      onReconnect: () => {
        this.hub.handleReconnect().catch((err: unknown) => {
          this.metrics.error('reconnect_check');
          this.#log.error({ err }, 'checking positions after bus reconnect failed');
        });
      },
    });
    this.#ticker = setInterval(() => this.#tick(), this.#tuning.tickMs);
    this.#ticker.unref();
    this.#infoTimer = setInterval(() => this.#announce(), this.#tuning.nodeInfoIntervalMs);
    this.#infoTimer.unref();
  }

  // ---- transports ------------------------------------------------------------------------

  /** A new client connection on a transport. The transport feeds `handleFrame` and `onTransportClosed`. */
  connect(transport: Transport, meta: ConnectionMeta = {}): ClientConnection {
    const session = new ClientConnection(this.#ctx, transport, meta, this.#lifecycle);
    this.#sessions.add(session);
    if (this.#shutdown) session.close(DISCONNECTS.shutdown);
    return session;
  }

  /** The session an emulation request belongs to, by the `session` key of its connect result. */
  sessionByKey(key: string): ClientConnection | undefined {
    return this.#byKey.get(key);
  }

  /**
   * Hands the commands of an emulation request (`data`: lines joined by `\n`) to the session
   * with key `sessionKey` held by instance `node`: directly when that is this instance, else
   * over the Bus control channel (only `node` acts on it). Resolves false when `node` is this
   * instance and the session is not here any more: the client should reconnect.
   */
  async emulate(node: string, sessionKey: string, data: string): Promise<boolean> {
    if (node !== this.nodeId) {
      await this.#bus.publishControl({ type: 'emulation', node, session: sessionKey, data });
      return true;
    }
    const session = this.#byKey.get(sessionKey);
    if (!session) return false;
    session.handleFrame(data);
    return true;
  }

  /** A connected session by client id (this instance only). */
  sessionByClient(client: string): ClientConnection | undefined {
    return this.#byClient.get(client);
  }

  /** Connected sessions of a user on this instance. */
  userSessions(user: string): ClientConnection[] {
    const entry = this.#byUser.get(user);
    return entry === undefined ? [] : entry instanceof ClientConnection ? [entry] : [...entry];
  }

  on<E extends keyof NodeEvents>(event: E, listener: NodeEvents[E]): () => void {
    const set = this.#listeners[event] as Set<NodeEvents[E]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Registers the handler of an rpc method (clients' `rpc` command). */
  registerRpc(method: string, handler: RpcHandler): void {
    this.#rpc.set(method, handler);
  }

  /** Sets the handler of clients' `send` command (fire-and-forget messages). */
  onSend(handler: SendHandler | undefined): void {
    this.#send = handler;
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

  /** Publishes the same data to several channels; one outcome per channel, in order. */
  async broadcast(channels: string[], data: unknown, options: PublishOptions = {}): Promise<BroadcastOutcome[]> {
    return Promise.all(
      channels.map(async (channel): Promise<BroadcastOutcome> => {
        try {
          return { result: await this.publish(channel, data, options) };
        } catch (err) {
          if (err instanceof ReplyError) return { error: { code: err.code, message: err.message } };
          this.#log.error({ err, channel }, 'broadcast publish failed');
          return { error: { code: ERRORS.internal.code, message: ERRORS.internal.message } };
        }
      }),
    );
  }

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
   * The domain's after-commit path for persisted namespaces: fans a committed post out to the
   * channel's subscribers on every instance. The publication's offset is the post's seq and
   * `epoch` the channel's stream epoch. Channels outside persisted namespaces are ignored.
   */
  deliverCommitted(channel: string, publication: Publication, epoch: string): Promise<void> {
    const resolved = this.namespaces.tryResolve(channel);
    if (typeof resolved === 'string' || !resolved.options.persist) return Promise.resolve();
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
    if (!resolved.options.persist && resolved.options.historySize === 0) return null;
    return (await this.#readHistory(resolved, { limit: 0 })).position;
  }

  /** Channel history (server API); `since` with another epoch → ReplyError 112. */
  async history(channel: string, options: HistoryOptions = {}): Promise<HistoryResult> {
    const resolved = this.namespaces.resolve(channel);
    if (!resolved.options.persist && resolved.options.historySize === 0) throw new ReplyError(ERRORS.notAvailable);
    const limit = options.limit === undefined ? 0 : options.limit < 0 ? -1 : options.limit;
    const result = await this.#readHistory(resolved, {
      limit,
      ...(options.since ? { since: options.since } : {}),
      ...(options.reverse ? { reverse: true } : {}),
    });
    if (options.since && options.since.epoch !== '' && options.since.epoch !== result.position.epoch) {
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

  /**
   * Channels with subscribers on this instance, with their local client counts, optionally
   * filtered by a glob pattern (`*` matches any run of characters). Only this instance: the
   * Bus contract has no cross-instance channel listing.
   */
  channels(pattern?: string): Record<string, { numClients: number }> {
    const out: Record<string, { numClients: number }> = {};
    for (const [channel, numClients] of Object.entries(this.#localChannels(pattern))) out[channel] = { numClients };
    return out;
  }

  /**
   * Channels with subscribers on ANY instance, with their summed subscriber counts: this
   * instance's own, plus the answers of every other live instance (those seen in `info`) to a
   * survey over the Bus control channel. An instance that does not answer within `timeoutMs`
   * is left out rather than delaying the reply without bound.
   */
  async clusterChannels(pattern?: string, timeoutMs = 1000): Promise<Record<string, { numClients: number }>> {
    const peers = new Set(this.info().nodes.map((n) => n.uid).filter((uid) => uid !== this.nodeId));
    const totals = new Map<string, number>(Object.entries(this.#localChannels(pattern)));
    if (peers.size > 0) {
      const requestId = randomUUID();
      const answered = new Promise<void>((resolve) => {
        const timer = setTimeout(finish, timeoutMs);
        timer.unref();
        function finish(): void {
          clearTimeout(timer);
          survey.delete(requestId);
          resolve();
        }
        const survey = this.#surveys;
        survey.set(requestId, (node, channels) => {
          if (!peers.delete(node)) return;
          for (const [channel, n] of Object.entries(channels)) totals.set(channel, (totals.get(channel) ?? 0) + n);
          if (peers.size === 0) finish();
        });
      });
      await this.#bus.publishControl({ type: 'channels-request', requestId, from: this.nodeId, ...(pattern ? { pattern } : {}) });
      await answered;
    }
    const out: Record<string, { numClients: number }> = {};
    for (const [channel, numClients] of totals) out[channel] = { numClients };
    return out;
  }

  #localChannels(pattern?: string): Record<string, number> {
    const re = pattern ? globToRegExp(pattern) : null;
    const out: Record<string, number> = {};
    for (const channel of this.hub.channelNames()) {
      if (re && !re.test(channel)) continue;
      out[channel] = this.hub.subscriberCount(channel);
    }
    return out;
  }

  /** This instance's stats. */
  stats(): NodeStats {
    return {
      uid: this.nodeId,
      name: this.name,
      version: this.version,
      numClients: this.#byClient.size,
      numUsers: this.#byUser.size,
      numChannels: this.hub.channelCount,
      numSubs: this.hub.subscriptionCount,
      uptime: Math.floor((Date.now() - this.#startedAt) / 1000),
      updatedAt: Date.now(),
    };
  }

  /** Every live instance (this one and those that announced themselves recently). */
  info(): { nodes: NodeStats[] } {
    const horizon = Date.now() - 3 * this.#tuning.nodeInfoIntervalMs;
    const nodes = [this.stats()];
    for (const [uid, stats] of this.#nodes) {
      if (stats.updatedAt < horizon) this.#nodes.delete(uid);
      else nodes.push(stats);
    }
    return { nodes };
  }

  #announce(): void {
    this.#bus.publishControl({ type: 'node-info', node: this.stats() }).catch((err: unknown) => {
      this.metrics.error('node_info');
      this.#log.warn({ err }, 'announcing node info failed');
    });
  }

  // ---- user operations (every instance) --------------------------------------------------

  /** Subscribes a user's connections (or one client) to a channel, server-side. */
  async subscribeUser(user: string, channel: string, client?: string): Promise<void> {
    this.namespaces.resolve(channel);
    await this.#bus.publishControl({ type: 'subscribe', user, channel, ...(client ? { client } : {}) });
  }

  /** Unsubscribes a user's connections (or one client) from a channel (unsubscribe push 2000). */
  async unsubscribeUser(user: string, channel: string, client?: string): Promise<void> {
    await this.#bus.publishControl({ type: 'unsubscribe', user, channel, ...(client ? { client } : {}) });
  }

  /** Disconnects a user's connections; by default with 3503 (force disconnect, no reconnect). */
  async disconnectUser(user: string, options: DisconnectUserOptions = {}): Promise<void> {
    const d = options.disconnect ?? DISCONNECTS.forceDisconnect;
    await this.#bus.publishControl({
      type: 'disconnect',
      user,
      code: d.code,
      reason: d.reason,
      ...(options.client ? { client: options.client } : {}),
      ...(options.whitelist ? { whitelist: options.whitelist } : {}),
    });
  }

  /** Refreshes a user's connections from the server side: a new expiry, or expired now. */
  async refreshUser(user: string, options: RefreshUserOptions = {}): Promise<void> {
    await this.#bus.publishControl({
      type: 'refresh',
      user,
      ...(options.client ? { client: options.client } : {}),
      ...(options.expired ? { expired: true } : {}),
      ...(options.expireAt !== undefined ? { expireAt: options.expireAt } : {}),
    });
  }

  #targets(user: string, client: string | undefined): ClientConnection[] {
    if (user === '' && client) {
      const s = this.#byClient.get(client);
      return s ? [s] : [];
    }
    return this.userSessions(user).filter((s) => !client || s.id === client);
  }

  #handleControl(command: ControlCommand): void {
    switch (command.type) {
      case 'disconnect':
        for (const s of this.#targets(command.user, command.client)) {
          if (command.whitelist?.includes(s.id)) continue;
          s.close({ code: command.code, reason: command.reason });
        }
        return;
      case 'subscribe':
        for (const s of this.#targets(command.user, command.client)) void this.#serverSubscribe(s, command.channel);
        return;
      case 'unsubscribe':
        for (const s of this.#targets(command.user, command.client)) s.unsubscribe(command.channel);
        return;
      case 'refresh':
        for (const s of this.#targets(command.user, command.client)) {
          if (command.expired) s.close(DISCONNECTS.expired);
          else if (command.expireAt !== undefined) s.expireAt = command.expireAt;
        }
        return;
      case 'emulation':
        if (command.node === this.nodeId) this.#byKey.get(command.session)?.handleFrame(command.data);
        return;
      case 'node-info':
        if (command.node.uid !== this.nodeId) this.#nodes.set(command.node.uid, command.node);
        return;
      case 'channels-request':
        if (command.from === this.nodeId) return;
        this.#bus
          .publishControl({ type: 'channels-reply', requestId: command.requestId, to: command.from, node: this.nodeId, channels: this.#localChannels(command.pattern) })
          .catch((err: unknown) => {
            this.metrics.error('channels_reply');
            this.#log.warn({ err }, 'answering a channels survey failed');
          });
        return;
      case 'channels-reply':
        if (command.to === this.nodeId) this.#surveys.get(command.requestId)?.(command.node, command.channels);
        return;
    }
  }

  async #serverSubscribe(session: ClientConnection, channel: string): Promise<void> {
    if (session.state !== 'connected' || session.subs.has(channel)) return;
    const resolved = this.namespaces.tryResolve(channel);
    if (typeof resolved === 'string') return;
    try {
      const { sub, result } = await establishSubscription(
        session,
        resolved,
        { channel, recover: false, offset: 0, epoch: '', flag: 0, joinLeave: false, positioned: false },
        { expireAt: 0 },
        true,
      );
      session.send(encodeSubscribePush(channel, result));
      session.activate(sub);
    } catch (err) {
      if (session.isClosed()) return;
      this.metrics.error('server_subscribe');
      this.#log.error({ err, channel, client: session.id }, 'server-side subscribe failed');
    }
  }

  // ---- session bookkeeping ---------------------------------------------------------------

  #sessionConnected(session: ClientConnection): void {
    this.#byClient.set(session.id, session);
    if (session.sessionKey) this.#byKey.set(session.sessionKey, session);
    const entry = this.#byUser.get(session.user);
    if (entry === undefined) this.#byUser.set(session.user, session);
    else if (entry instanceof ClientConnection) this.#byUser.set(session.user, new Set([entry, session]));
    else entry.add(session);
    for (const l of this.#listeners.connect) l(session);
  }

  #sessionClosed(session: ClientConnection, code: number, reason: string): void {
    this.#sessions.delete(session);
    if (this.#byClient.get(session.id) === session) {
      this.#byClient.delete(session.id);
      if (session.sessionKey) this.#byKey.delete(session.sessionKey);
      const entry = this.#byUser.get(session.user);
      if (entry === session) this.#byUser.delete(session.user);
      else if (entry instanceof Set) {
        entry.delete(session);
        if (entry.size === 0) this.#byUser.delete(session.user);
      }
    }
    for (const l of this.#listeners.disconnect) l(session, code, reason);
  }

  #tick(): void {
    const now = Date.now();
    for (const session of this.#sessions) session.onTick(now);
  }

  /**
   * Graceful shutdown: every client is disconnected with 3001 (shutdown, reconnect), and the
   * presence they leave is removed. The Bus and the stores stay open: their owner closes them.
   */
  shutdown(graceMs = 5000): Promise<void> {
    this.#shutdown ??= (async () => {
      clearInterval(this.#ticker);
      clearInterval(this.#infoTimer);
      const closing: Promise<void>[] = [];
      for (const session of [...this.#sessions]) {
        session.close(DISCONNECTS.shutdown);
        closing.push(session.closed);
      }
      await waitAtMost(Promise.allSettled(closing), graceMs);
    })();
    return this.#shutdown;
  }
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}
