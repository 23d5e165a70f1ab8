import type { Logger } from '../../log.js';
import { MycelError } from '../../errors.js';
import type { Bus, BusHandler } from '../bus.js';
import { dispatchToHandler } from '../bus-dispatch.js';
import { checkBusMessage } from '../bus-limits.js';
import type { BusMessage, ControlCommand, HistoryOptions, StreamPosition } from '../types.js';
import { checkHistoryOptions, newEpoch, ttlMs } from '../stream-rules.js';
import { performance } from 'node:perf_hooks';
import { DEFAULT_PREFIX, isLateRefusal, RedisConnection, toMycelError, type RedisBackendOptions } from './redis-connection.js';
import { decodeBusMessage, decodeControl, encodeBusMessage, encodeControl, encodePublicationBody } from './redis-codec.js';
import { channelKeyPrefix, controlKey, metaKey, PUBLISH_LUA, PUBLISH_NOW_LUA, streamKey } from './redis-streams.js';

/** Channels per SUBSCRIBE when re-subscribing after a reconnect. */
const SUBSCRIBE_BATCH = 500;

/**
 * The share of the command timeout a publish may take to reach Redis. The rest is for its
 * reply to come back before the caller times out, so "failed" and "delivered" do not overlap.
 */
const PUBLISH_DEADLINE_SHARE = 0.75;

export interface RedisBusStats {
  /** Thrown by the handler; counted so one bad handler call does not stop delivery. */
  handlerErrors: number;
  /** Pub/sub messages that were not ours (another program on the prefix) or were corrupt. */
  decodeErrors: number;
  /** Publishes refused as late while Redis answered at once: the clocks disagreed and were read again. */
  clockResyncs: number;
}

/**
 * The Bus over Redis: commands (publish scripts) on one connection, SUBSCRIBE on a second
 * one. After the subscriber connection comes back it re-subscribes every channel (and the
 * control channel) itself, then calls `handler.onReconnect()`.
 *
 * Publishes are refused at once (REDIS_UNAVAILABLE) while the subscriber connection is not
 * up and subscribed: after a Redis restart the command connection is often back first, and
 * a publish acknowledged then would reach no subscriber of this instance. Every publish runs
 * a script with a deadline (redis-streams.ts), so one whose caller was told it failed is never
 * delivered later.
 */
export class RedisBus implements Bus {
  readonly prefix: string;
  /** Also used by RedisHistoryStore, which reads the streams this bus appends to. */
  readonly commands: RedisConnection;
  readonly subscriber: RedisConnection;
  readonly stats: RedisBusStats = { handlerErrors: 0, decodeErrors: 0, clockResyncs: 0 };
  private readonly logger: Logger | undefined;
  private readonly channels = new Set<string>();
  /** The latest subscribe/unsubscribe per channel in flight, so a failed subscribe only undoes itself. */
  private readonly pendingOps = new Map<string, number>();
  private opSeq = 0;
  private readonly channelPrefix: string;
  private readonly control: string;
  private readonly publishScript: ReturnType<RedisConnection['defineScript']>;
  private readonly publishNowScript: ReturnType<RedisConnection['defineScript']>;
  private handler: BusHandler | undefined;
  private closed = false;

  constructor(options: RedisBackendOptions) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.logger = options.logger;
    this.channelPrefix = channelKeyPrefix(this.prefix);
    this.control = controlKey(this.prefix);
    this.commands = new RedisConnection(options, 'bus', { measureClock: true });
    this.subscriber = new RedisConnection({ ...options, pingIntervalMs: options.pingIntervalMs ?? 10_000 }, 'bus-subscriber', {
      setup: () => this.subscribeAll(),
      onReconnect: () => this.dispatch('reconnect', () => this.handler?.onReconnect?.()),
    });
    this.subscriber.client.on('message', (key: string, text: string) => this.onRedisMessage(key, text));
    this.publishScript = this.commands.defineScript('mycelStreamPublish', PUBLISH_LUA, 2);
    this.publishNowScript = this.commands.defineScript('mycelPublish', PUBLISH_NOW_LUA, 0);
  }

  async publish(channel: string, message: BusMessage, history?: HistoryOptions): Promise<StreamPosition | null> {
    this.assertOpen();
    checkBusMessage(message);
    if (message.type !== 'pub' || !history) {
      await this.publishNow('publish', this.channelPrefix + channel, encodeBusMessage(message));
      return null;
    }
    checkHistoryOptions(history);
    const body = encodePublicationBody(message.publication);
    const reply = await this.runPublish('publish', (deadline) =>
      this.publishScript(
        [metaKey(this.prefix, channel), streamKey(this.prefix, channel)],
        [this.channelPrefix + channel, body, history.size, ttlMs(history.ttlSeconds), ttlMs(history.metaTtlSeconds), newEpoch(), deadline],
      ),
    );
    const [offset, epoch] = reply as [number, string];
    return { offset, epoch };
  }

  async subscribe(channel: string): Promise<void> {
    this.assertOpen();
    const op = ++this.opSeq;
    this.pendingOps.set(channel, op);
    // Added first: a (re)connection that happens meanwhile subscribes it too.
    this.channels.add(channel);
    try {
      await this.subscriber.run('subscribe', (c) => c.subscribe(this.channelPrefix + channel));
    } catch (err) {
      if (this.pendingOps.get(channel) === op) this.channels.delete(channel);
      throw err;
    } finally {
      if (this.pendingOps.get(channel) === op) this.pendingOps.delete(channel);
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    const op = ++this.opSeq;
    this.pendingOps.set(channel, op);
    // Removed first: messages still in flight for it are dropped from now on.
    this.channels.delete(channel);
    try {
      // While down there is nothing to undo: the next connection only subscribes `channels`.
      if (this.closed || !this.subscriber.isUp) return;
      await this.subscriber.client.unsubscribe(this.channelPrefix + channel);
    } catch (err) {
      if (this.subscriber.isUp) throw toMycelError(err, 'bus-subscriber', 'unsubscribe');
    } finally {
      if (this.pendingOps.get(channel) === op) this.pendingOps.delete(channel);
    }
  }

  async publishControl(command: ControlCommand): Promise<void> {
    this.assertOpen();
    await this.publishNow('publishControl', this.control, encodeControl(command));
  }

  setHandler(handler: BusHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.channels.clear();
    await Promise.all([this.commands.close(), this.subscriber.close()]);
  }

  /** PUBLISH through the deadline script. */
  private async publishNow(op: string, key: string, text: string): Promise<void> {
    await this.runPublish(op, (deadline) => this.publishNowScript([], [key, text, deadline]));
  }

  /**
   * Runs a publish script once this instance's subscriber is up (it must hear its own
   * messages), with a deadline. A refusal means Redis did nothing; if it came back well within
   * the budget, Redis was not late, the clocks disagree (a clock stepped since the last
   * reading): read Redis's clock again and try once more, which cannot duplicate anything.
   */
  private async runPublish(op: string, script: (deadline: number) => Promise<unknown>): Promise<unknown> {
    await this.subscriber.whenUp();
    const budgetMs = this.commands.commandTimeoutMs * PUBLISH_DEADLINE_SHARE;
    const sentAt = performance.now();
    try {
      return await this.commands.run(op, () => script(this.commands.redisDeadline(budgetMs)));
    } catch (err) {
      if (!isLateRefusal(err) || performance.now() - sentAt >= budgetMs / 2) throw err;
      this.stats.clockResyncs++;
      this.logger?.warn({ op }, 'Redis refused a publish as late although it answered at once: reading its clock again');
      await this.commands.resyncClock();
      return await this.commands.run(op, () => script(this.commands.redisDeadline(budgetMs)));
    }
  }

  /** Runs on each (re)connection of the subscriber, before it counts as up. */
  private async subscribeAll(): Promise<void> {
    const keys = [this.control, ...[...this.channels].map((channel) => this.channelPrefix + channel)];
    const batches: Promise<unknown>[] = [];
    for (let i = 0; i < keys.length; i += SUBSCRIBE_BATCH) {
      batches.push(this.subscriber.client.subscribe(...keys.slice(i, i + SUBSCRIBE_BATCH)));
    }
    await Promise.all(batches);
  }

  private onRedisMessage(key: string, text: string): void {
    if (this.closed) return;
    if (key === this.control) {
      const command = this.decode(text, decodeControl);
      if (command) this.dispatch('control', () => this.handler?.onControl(command));
      return;
    }
    if (!key.startsWith(this.channelPrefix)) return;
    const channel = key.slice(this.channelPrefix.length);
    if (!this.channels.has(channel)) return;
    const message = this.decode(text, decodeBusMessage);
    if (message) this.dispatch('message', () => this.handler?.onMessage(channel, message));
  }

  private decode<T>(text: string, decode: (text: string) => T): T | undefined {
    try {
      return decode(text);
    } catch (err) {
      this.stats.decodeErrors++;
      this.logger?.warn({ err }, 'undecodable bus message');
      return undefined;
    }
  }

  /** Calls the handler; see dispatchToHandler for why a throw is counted rather than passed on. */
  private dispatch(kind: string, fn: () => void): void {
    dispatchToHandler(this.stats, this.logger, kind, fn);
  }

  private assertOpen(): void {
    if (this.closed) throw new MycelError('SHUTTING_DOWN', { component: 'bus' });
  }
}
