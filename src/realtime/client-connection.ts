/**
 * One client connection: its state machine, its command queue, its subscriptions and timers.
 *
 * State: connecting → connected → closed. The state changes in exactly two places,
 * `markConnected()` and `close()`; everything else reads it.
 *
 * Commands of a connection run one after another, in the order their lines arrived (a frame's
 * lines in order), so the connect reply is out before the subscribes batched behind it are
 * handled, and a subscriber's reply precedes its publications. Writes go straight to the
 * transport; when the transport's buffer passes realtime.maxQueuedBytes the client is a slow
 * consumer and is disconnected with 3008, so memory per connection stays bounded.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { asReplyError, isBackendUnavailable } from './backend-unavailable.js';
import { utf8LongerThan } from '../lib/text-size.js';
import { handleConnect } from './handlers/connect.js';
import { handleHistory } from './handlers/history.js';
import { handlePresence, handlePresenceStats } from './handlers/presence.js';
import { handlePublish } from './handlers/publish.js';
import { handleRefresh, handleSubRefresh } from './handlers/refresh.js';
import { handleRpc, handleSend } from './handlers/rpc.js';
import { handleSubscribe } from './handlers/subscribe.js';
import { handleUnsubscribe } from './handlers/unsubscribe.js';
import type { ClientContext, RealtimeContext } from './context.js';
import {
  DISCONNECTS,
  DisconnectError,
  ERRORS,
  ReplyError,
  UNSUBSCRIBES,
  type DisconnectCode,
} from './protocol/codes.js';
import {
  encodeErrorReply,
  encodePublicationPush,
  encodeReply,
  encodeUnsubscribePush,
  forEachLine,
  parseCommand,
  PING_FRAME,
  type Command,
  type ResultByMethod,
} from './protocol/frames.js';
import { checkCommandData } from './protocol/data-limits.js';
import type { ConnectionState, HandlerConnection } from './handlers/handler-connection.js';
import { admit, type Subscription } from './subscription.js';
import type { ConnectionMeta, Transport } from './transport.js';
import type { ClientInfo } from './types.js';

type Handler<M extends Command['method']> = (session: HandlerConnection, cmd: Extract<Command, { method: M }>) => Promise<void> | void;

const HANDLERS: { [M in Exclude<Command['method'], 'pong'>]: Handler<M> } = {
  connect: handleConnect,
  subscribe: handleSubscribe,
  unsubscribe: handleUnsubscribe,
  publish: handlePublish,
  presence: handlePresence,
  presence_stats: handlePresenceStats,
  history: handleHistory,
  rpc: handleRpc,
  send: handleSend,
  refresh: handleRefresh,
  sub_refresh: handleSubRefresh,
};

/** Told when a connection becomes connected and when it closes: the node's connection registry. */
export interface ConnectionLifecycle {
  connected(conn: ClientConnection): void;
  closed(conn: ClientConnection, code: number, reason: string): void;
}

export class ClientConnection implements HandlerConnection {
  /** The client id (`client` in the connect result, presence and publications). */
  readonly id: string;
  /**
   * A secret that routes emulation requests (`session` in the connect result) to this session;
   * unlike the client id it is never shown to other clients. Empty on non-emulation transports.
   */
  readonly sessionKey: string;
  readonly transport: Transport;
  readonly meta: ConnectionMeta;
  readonly createdAt = Date.now();
  /** @internal */
  readonly ctx: RealtimeContext;

  #state: ConnectionState = 'connecting';
  /** The user of the connection; "" = anonymous. Set by connect. */
  user = '';
  /** Acts with the node owner's rights (owner session credentials). */
  owner = false;
  /** The connection token's `info`. */
  connInfo: unknown = undefined;
  /** Unix seconds when the connection expires unless refreshed; 0 = never. */
  expireAt = 0;
  clientName = '';
  clientVersion = '';
  /** Subscriptions by channel, including ones still being set up. */
  readonly subs = new Map<string, Subscription>();
  closeCode = 0;
  closeReason = '';
  // Created on demand: most connections never need them, and idle connections are many.
  #closedPromise: Promise<void> | undefined;
  #cleanups: Set<Promise<void>> | undefined;

  /** @internal A connect command is being handled (a second one is a bad request). */
  connectStarted = false;
  /** A connect failed with an error reply: any further command is a bad request (reference behaviour). */
  #unusable = false;

  #inbox: string[] = [];
  #inboxBytes = 0;
  #draining = false;

  #tokens = 0;
  #bucketAt = 0;
  #rejectWindowStart = 0;
  #rejected = 0;

  /** Pongs received so far (observability; tests use it to see ping/pong rounds). */
  pongs = 0;
  #nextPingAt = 0;
  #pingsOutstanding = 0;
  #pongDeadline = 0;
  #nextPresenceAt = 0;
  #expiringSubs = 0;

  readonly #lifecycle: ConnectionLifecycle;

  constructor(ctx: RealtimeContext, transport: Transport, meta: ConnectionMeta, lifecycle: ConnectionLifecycle) {
    this.ctx = ctx;
    this.#lifecycle = lifecycle;
    this.transport = transport;
    this.meta = meta;
    this.id = randomUUID();
    this.sessionKey = transport.emulation ? randomBytes(18).toString('base64url') : '';
  }

  /**
   * Settles once the session is closed and its cleanup (presence removal) is done; call it
   * after close() (shutdown does).
   */
  get closed(): Promise<void> {
    this.#closedPromise ??= Promise.allSettled(this.#cleanups ? [...this.#cleanups] : []).then(() => undefined);
    return this.#closedPromise;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** A method rather than a state comparison, so TypeScript does not narrow it across awaits. */
  isClosed(): boolean {
    return this.#state === 'closed';
  }

  /** The client as presence, publications and join/leave show it. */
  clientInfo(chanInfo?: unknown): ClientInfo {
    const info: ClientInfo = { user: this.user, client: this.id };
    if (this.connInfo !== undefined) info.connInfo = this.connInfo;
    if (chanInfo !== undefined) info.chanInfo = chanInfo;
    return info;
  }

  /** What rpc/send handlers learn about the caller. */
  clientContext(): ClientContext {
    return { client: this.id, user: this.user, owner: this.owner, connInfo: this.connInfo, transport: this.transport.name };
  }

  // ---- input -----------------------------------------------------------------------------

  /**
   * A frame from the transport: one or more commands separated by newlines. Never throws; a
   * malformed frame closes the connection with 3501.
   */
  handleFrame(frame: string): void {
    if (this.#state === 'closed') return;
    if (utf8LongerThan(frame, this.ctx.config.maxMessageBytes)) {
      this.close(DISCONNECTS.badRequest);
      return;
    }
    // Commands waiting behind a slow one are bounded like the send queue.
    this.#inboxBytes += frame.length;
    if (this.#inboxBytes > this.ctx.config.maxQueuedBytes) {
      this.ctx.metrics.drops.send_queue++;
      this.close(DISCONNECTS.tooManyRequests);
      return;
    }
    this.#inbox.push(frame);
    if (!this.#draining) void this.#drain();
  }

  /** The transport's connection ended (the client went away or the socket failed). */
  onTransportClosed(): void {
    this.#close(DISCONNECTS.connectionClosed, false);
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#inbox.length > 0 && this.#state !== 'closed') {
        const frame = this.#inbox.shift()!;
        this.#inboxBytes -= frame.length;
        const pending: Command[] = [];
        let malformed: DisconnectError | null = null;
        forEachLine(frame, (line) => {
          try {
            pending.push(parseCommand(line));
            return true;
          } catch (err) {
            if (!(err instanceof DisconnectError)) throw err;
            // Commands before the bad line still run, as in the reference.
            malformed = err;
            return false;
          }
        });
        for (const cmd of pending) {
          if (this.isClosed()) return;
          const running = this.#handle(cmd);
          if (running) await running;
        }
        if (malformed !== null && !this.isClosed()) {
          const err: DisconnectError = malformed;
          this.close({ code: err.code, reason: err.reason });
        }
      }
    } catch (err) {
      // A bug, not a client mistake: the connection cannot continue in a known state.
      this.ctx.log.error({ err, client: this.id }, 'realtime command handling failed');
      this.ctx.metrics.error('session');
      this.close(DISCONNECTS.internal);
    } finally {
      this.#draining = false;
    }
  }

  #handle(cmd: Command): Promise<void> | void {
    this.ctx.metrics.messagesIn++;
    if (cmd.method === 'pong') return this.#handlePong();
    if (this.#unusable || (this.#state === 'connecting' && cmd.method !== 'connect')) {
      this.close(DISCONNECTS.badRequest);
      return;
    }
    if (this.#rateLimited(cmd)) return;
    const handler = HANDLERS[cmd.method] as Handler<typeof cmd.method>;
    try {
      checkCommandData(cmd);
      const running = handler(this, cmd as never);
      if (running) return running.catch((err: unknown) => this.#commandFailed(cmd, err));
    } catch (err) {
      this.#commandFailed(cmd, err);
    }
  }

  #commandFailed(cmd: Command, failure: unknown): void {
    // A back-end outage is answered with its own message and counted, not logged per command (RedisHealth logs it once).
    if (isBackendUnavailable(failure)) this.ctx.metrics.error(`command_${cmd.method}`);
    const err = asReplyError(failure);
    if (err instanceof DisconnectError) {
      this.close({ code: err.code, reason: err.reason });
      return;
    }
    if (cmd.method === 'connect') this.#unusable = true;
    if (cmd.method === 'send') {
      // `send` has no reply to carry the error: count it.
      this.ctx.metrics.error('send_handler');
      if (!(err instanceof ReplyError)) this.ctx.log.warn({ err, client: this.id }, 'send handler failed');
      return;
    }
    if (err instanceof ReplyError) {
      this.send(encodeErrorReply(cmd.id, { code: err.code, message: err.message, temporary: err.temporary }));
      return;
    }
    // Back-end failures (Bus, stores, database) are temporary for the client: it retries.
    this.ctx.log.error({ err, client: this.id, method: cmd.method }, 'realtime command failed');
    this.ctx.metrics.error(`command_${cmd.method}`);
    this.send(encodeErrorReply(cmd.id, ERRORS.internal));
  }

  /**
   * A token bucket: maxCommandsPerSecond refill, with room for a reconnect's burst (connect plus
   * every subscription). Commands without a token get 111; more rejections than the rate within
   * a second close the connection with 3013.
   */
  #rateLimited(cmd: Command): boolean {
    const now = Date.now();
    const rate = this.ctx.config.maxCommandsPerSecond;
    const capacity = rate + this.ctx.config.maxSubscriptionsPerConnection;
    if (this.#bucketAt === 0) this.#tokens = capacity;
    else this.#tokens = Math.min(capacity, this.#tokens + ((now - this.#bucketAt) * rate) / 1000);
    this.#bucketAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return false;
    }
    this.ctx.metrics.drops.rate++;
    if (now - this.#rejectWindowStart >= 1000) {
      this.#rejectWindowStart = now;
      this.#rejected = 0;
    }
    if (++this.#rejected > rate) {
      this.close(DISCONNECTS.tooManyRequests);
      return true;
    }
    if (cmd.method !== 'send') this.send(encodeErrorReply(cmd.id, ERRORS.tooManyRequests));
    return true;
  }

  #handlePong(): void {
    if (this.#state !== 'connected' || this.#pingsOutstanding === 0) {
      this.close(DISCONNECTS.badRequest);
      return;
    }
    this.#pingsOutstanding--;
    this.pongs++;
    this.#pongDeadline = this.#pingsOutstanding > 0 ? Date.now() + this.ctx.config.pongTimeoutSeconds * 1000 : 0;
  }

  // ---- output ----------------------------------------------------------------------------

  /** Writes a frame; disconnects the client with 3008 when its unsent bytes pass the limit. */
  send(frame: string): void {
    if (this.#state === 'closed') return;
    const t = this.transport;
    t.write(frame);
    this.ctx.metrics.messagesOut++;
    if (t.bufferedBytes() > this.ctx.config.maxQueuedBytes) {
      this.ctx.metrics.drops.slow++;
      this.close(DISCONNECTS.slow);
    }
  }

  /** @internal */
  reply<M extends keyof ResultByMethod>(id: number, method: M, result: ResultByMethod[M]): void {
    this.send(encodeReply(id, method, result));
  }

  // ---- state transitions -----------------------------------------------------------------

  /** connecting → connected. Returns false when the session is not connecting any more. */
  markConnected(): boolean {
    if (this.#state !== 'connecting') return false;
    this.#state = 'connected';
    const now = Date.now();
    const pingMs = this.ctx.config.pingIntervalSeconds * 1000;
    // The first ping comes at a random point in [ping/2, ping) to spread reconnect storms.
    if (pingMs > 0) this.#nextPingAt = now + pingMs / 2 + Math.floor(Math.random() * (pingMs / 2));
    const presenceMs = this.#presenceRefreshMs();
    this.#nextPresenceAt = now + presenceMs / 2 + Math.floor(Math.random() * (presenceMs / 2));
    this.#lifecycle.connected(this);
    return true;
  }

  /** Closes the connection with a disconnect code (any state → closed). Idempotent. */
  close(disconnect: DisconnectCode): void {
    this.#close(disconnect, true);
  }

  #close(disconnect: DisconnectCode, closeTransport: boolean): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.closeCode = disconnect.code;
    this.closeReason = disconnect.reason;
    this.#inbox.length = 0;
    this.#inboxBytes = 0;
    if (closeTransport) this.transport.close(disconnect.code, disconnect.reason);
    this.ctx.metrics.disconnected(disconnect.code);
    for (const sub of [...this.subs.values()]) this.removeSubscription(sub, true);
    this.#lifecycle.closed(this, disconnect.code, disconnect.reason);
  }

  // ---- subscriptions ---------------------------------------------------------------------

  /**
   * Called right after the subscribe reply (or connect reply, or subscribe push) is written:
   * delivers what arrived meanwhile, past the position the reply gave, and announces the join.
   */
  activate(sub: Subscription): void {
    if (this.subs.get(sub.channel) !== sub || this.#state === 'closed') return;
    const buffered = sub.buffer;
    sub.buffer = null;
    sub.active = true;
    if (sub.expireAt > 0) this.#expiringSubs++;
    if (buffered) {
      for (const b of buffered) {
        const verdict = admit(sub, b.offset, b.epoch);
        if (verdict === 'deliver') this.send(b.frame);
        else if (verdict === 'deliver-with-epoch') this.send(b.pub ? encodePublicationPush(sub.channel, b.pub, b.epoch) : b.frame);
        else if (verdict === 'lost') {
          sub.insufficient = true;
          break;
        }
      }
    }
    if (this.subs.get(sub.channel) !== sub) return;
    if (sub.emitJoinLeave) this.ctx.publishJoinLeave(sub.channel, 'join', this.clientInfo(sub.chanInfo));
    if (sub.insufficient) this.insufficientState(sub);
  }

  /**
   * Drops a subscription: out of the Hub at once; presence removal and the leave event follow
   * asynchronously. No push is written (callers write the one they need).
   */
  removeSubscription(sub: Subscription, announce: boolean): void {
    if (this.subs.get(sub.channel) !== sub) return;
    this.subs.delete(sub.channel);
    const wasActive = sub.active;
    sub.active = false;
    sub.buffer = null;
    if (wasActive && sub.expireAt > 0) this.#expiringSubs--;
    this.ctx.hub.remove(sub);
    if (sub.presence) {
      const removal = this.ctx.presence.remove(sub.channel, this.id, this.user).catch((err: unknown) => {
        // The entry expires after presenceTtlSeconds anyway.
        this.ctx.metrics.error('presence_remove');
        this.ctx.log.warn({ err, channel: sub.channel, client: this.id }, 'presence remove failed');
      });
      const cleanups = (this.#cleanups ??= new Set());
      cleanups.add(removal);
      void removal.then(() => cleanups.delete(removal));
    }
    if (announce && wasActive && sub.emitJoinLeave) this.ctx.publishJoinLeave(sub.channel, 'leave', this.clientInfo(sub.chanInfo));
  }

  /**
   * The subscription missed publications: client-side subscriptions get unsubscribe 2500 and
   * resubscribe (recovering from their position); server-side ones can only reconnect (3010).
   */
  insufficientState(sub: Subscription): void {
    if (this.subs.get(sub.channel) !== sub || this.#state === 'closed') return;
    if (sub.serverSide) {
      this.close(DISCONNECTS.insufficientState);
      return;
    }
    this.removeSubscription(sub, true);
    this.send(encodeUnsubscribePush(sub.channel, UNSUBSCRIBES.insufficientState.code, UNSUBSCRIBES.insufficientState.reason));
  }

  /** Ends a subscription from the server side with an unsubscribe push (2000 unless told otherwise). */
  unsubscribe(channel: string, code: DisconnectCode = UNSUBSCRIBES.server): boolean {
    const sub = this.subs.get(channel);
    if (!sub) return false;
    const wasActive = sub.active;
    this.removeSubscription(sub, true);
    // A subscription still being set up learns it from its failed reply instead.
    if (wasActive) this.send(encodeUnsubscribePush(channel, code.code, code.reason));
    return true;
  }

  // ---- timers ----------------------------------------------------------------------------

  #presenceRefreshMs(): number {
    return Math.max(1000, Math.floor((this.ctx.config.presenceTtlSeconds * 1000) / 3));
  }

  /** Called by the node's ticker: pings, pong deadline, expiry, presence heartbeat, staleness. */
  onTick(now: number): void {
    const state = this.#state;
    if (state === 'closed') return;
    if (state === 'connecting') {
      if (now - this.createdAt > this.ctx.tuning.staleMs) this.close(DISCONNECTS.stale);
      return;
    }
    if (this.#pongDeadline > 0 && now >= this.#pongDeadline) {
      this.close(DISCONNECTS.noPong);
      return;
    }
    if (this.#nextPingAt > 0 && now >= this.#nextPingAt) {
      this.#nextPingAt = now + this.ctx.config.pingIntervalSeconds * 1000;
      if (this.#pingsOutstanding === 0) this.#pongDeadline = now + this.ctx.config.pongTimeoutSeconds * 1000;
      this.#pingsOutstanding++;
      this.send(PING_FRAME);
      if (this.#state !== 'connected') return;
    }
    if (this.expireAt > 0 && now > this.expireAt * 1000 + this.ctx.tuning.expiredCloseDelayMs) {
      this.close(DISCONNECTS.expired);
      return;
    }
    if (this.#expiringSubs > 0) this.#checkSubscriptionExpiry(now);
    if (this.#nextPresenceAt > 0 && now >= this.#nextPresenceAt) {
      this.#nextPresenceAt = now + this.#presenceRefreshMs();
      this.#refreshPresence();
    }
  }

  #checkSubscriptionExpiry(now: number): void {
    const delay = this.ctx.tuning.expiredCloseDelayMs;
    for (const sub of [...this.subs.values()]) {
      if (!sub.active || sub.expireAt === 0 || now <= sub.expireAt * 1000 + delay) continue;
      if (sub.serverSide) {
        this.close(DISCONNECTS.subExpired);
        return;
      }
      this.unsubscribe(sub.channel, UNSUBSCRIBES.expired);
    }
  }

  /** @internal Re-counts expiring subscriptions after a sub_refresh changed one. */
  subscriptionExpiryChanged(sub: Subscription, previousExpireAt: number): void {
    if (!sub.active) return;
    if (previousExpireAt > 0) this.#expiringSubs--;
    if (sub.expireAt > 0) this.#expiringSubs++;
  }

  #refreshPresence(): void {
    const ttl = this.ctx.config.presenceTtlSeconds;
    for (const sub of this.subs.values()) {
      if (!sub.active || !sub.presence) continue;
      this.ctx.presence.add(sub.channel, this.clientInfo(sub.chanInfo), ttl).catch((err: unknown) => {
        this.ctx.metrics.error('presence_refresh');
        if (!isBackendUnavailable(err)) this.ctx.log.warn({ err, channel: sub.channel, client: this.id }, 'presence refresh failed');
      });
    }
  }
}
