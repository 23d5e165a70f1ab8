/**
 * Channel → the local subscriptions, and the fan-out from the Bus to them.
 *
 * The Hub subscribes the Bus to a channel when its first local subscriber arrives and
 * unsubscribes after the last one leaves (per channel, those Bus calls run one after another so
 * a quick leave + join cannot end unsubscribed). A publication is encoded once per channel and
 * the same string is written to every subscriber: that loop is the hot path.
 *
 * Positioned subscriptions track the last offset they got; a publication that skips offsets or
 * comes from another epoch means the Bus lost messages, and the subscriber is told so (client
 * subscriptions: unsubscribe 2500, they resubscribe and recover; server-side ones: 3010).
 */
import type { Logger } from '../log.js';
import type { Bus } from './bus.js';
import type { RealtimeMetrics } from './metrics.js';
import { encodeJoinPush, encodeLeavePush, encodePublicationPush } from './protocol/frames.js';
import { admit, type Subscription } from './subscription.js';
import { epochMatches, type BusMessage, type Publication, type StreamPosition } from './types.js';

interface HubChannel {
  readonly subs: Set<Subscription>;
  /** Settles when the Bus delivers this channel's messages to this instance. */
  ready: Promise<void>;
}

export interface HubDeps {
  bus: Bus;
  metrics: RealtimeMetrics;
  log: Logger;
  /** The channel's current stream position, or null when it keeps none (for the reconnect check). */
  streamTop(channel: string): Promise<StreamPosition | null>;
}

/** How many channels the reconnect check reads at once. */
const RECONNECT_CHECK_CONCURRENCY = 32;

export class Hub {
  readonly #channels = new Map<string, HubChannel>();
  /** Per channel, the tail of its queued Bus subscribe/unsubscribe calls. */
  readonly #busOps = new Map<string, Promise<void>>();
  readonly #deps: HubDeps;
  #subscriptionCount = 0;

  constructor(deps: HubDeps) {
    this.#deps = deps;
  }

  get channelCount(): number {
    return this.#channels.size;
  }

  get subscriptionCount(): number {
    return this.#subscriptionCount;
  }

  channelNames(): IterableIterator<string> {
    return this.#channels.keys();
  }

  /** Local subscribers of a channel. */
  subscriberCount(channel: string): number {
    return this.#channels.get(channel)?.subs.size ?? 0;
  }

  /** A channel's local subscriptions (read-only view). */
  subscribers(channel: string): ReadonlySet<Subscription> {
    return this.#channels.get(channel)?.subs ?? new Set();
  }

  #chain(channel: string, op: () => Promise<void>): Promise<void> {
    const prev = this.#busOps.get(channel);
    const next = prev ? prev.then(op, op) : op();
    this.#busOps.set(channel, next);
    const cleanup = (): void => {
      if (this.#busOps.get(channel) === next) this.#busOps.delete(channel);
    };
    next.then(cleanup, cleanup);
    return next;
  }

  /**
   * Registers a subscription (still buffering) and resolves once the Bus delivers the channel
   * here, so a position read after this cannot miss a publication. Rejects when the Bus could
   * not subscribe; the subscription is then removed again.
   */
  async add(sub: Subscription): Promise<void> {
    let ch = this.#channels.get(sub.channel);
    if (!ch) {
      const created: HubChannel = { subs: new Set(), ready: Promise.resolve() };
      created.ready = this.#chain(sub.channel, () => this.#deps.bus.subscribe(sub.channel));
      this.#channels.set(sub.channel, created);
      ch = created;
    }
    ch.subs.add(sub);
    this.#subscriptionCount++;
    try {
      await ch.ready;
    } catch (err) {
      this.#deps.metrics.error('bus_subscribe');
      this.remove(sub);
      // A later subscriber must try the Bus again rather than inherit this failure.
      if (this.#channels.get(sub.channel) === ch && ch.subs.size === 0) this.#channels.delete(sub.channel);
      throw err;
    }
  }

  /** Removes a subscription; the last one out unsubscribes the Bus from the channel. */
  remove(sub: Subscription): void {
    const ch = this.#channels.get(sub.channel);
    if (!ch || !ch.subs.delete(sub)) return;
    this.#subscriptionCount--;
    if (ch.subs.size > 0) return;
    this.#channels.delete(sub.channel);
    const channel = sub.channel;
    this.#chain(channel, () => this.#deps.bus.unsubscribe(channel)).catch((err: unknown) => {
      // The instance keeps receiving a channel nobody here wants; messages are dropped on arrival.
      this.#deps.metrics.error('bus_unsubscribe');
      this.#deps.log.warn({ err, channel }, 'bus unsubscribe failed');
    });
  }

  /** The Bus handler for channel messages. */
  handleMessage(channel: string, message: BusMessage): void {
    const ch = this.#channels.get(channel);
    if (!ch) return;
    switch (message.type) {
      case 'pub':
        this.#fanOut(channel, ch, message.publication, message.epoch);
        return;
      case 'join':
        this.#joinLeave(ch, encodeJoinPush(channel, message.info));
        return;
      case 'leave':
        this.#joinLeave(ch, encodeLeavePush(channel, message.info));
        return;
    }
  }

  #fanOut(channel: string, ch: HubChannel, pub: Publication, epoch: string | undefined): void {
    const frame = encodePublicationPush(channel, pub);
    const off = pub.offset;
    let lost: Subscription[] | null = null;
    for (const sub of ch.subs) {
      if (sub.buffer !== null) {
        sub.buffer.push({ offset: off, epoch, frame, pub });
        continue;
      }
      if (off > 0 && sub.positioned) {
        const verdict = admit(sub, off, epoch);
        if (verdict === 'deliver-with-epoch') {
          sub.session.send(encodePublicationPush(channel, pub, epoch));
          continue;
        }
        if (verdict !== 'deliver') {
          if (verdict === 'lost') (lost ??= []).push(sub);
          continue;
        }
      }
      sub.session.send(frame);
    }
    if (lost) for (const sub of lost) sub.session.insufficientState(sub);
  }

  #joinLeave(ch: HubChannel, frame: string): void {
    for (const sub of ch.subs) {
      if (!sub.pushJoinLeave) continue;
      if (sub.buffer !== null) {
        sub.buffer.push({ offset: 0, epoch: undefined, frame });
        continue;
      }
      sub.session.send(frame);
    }
  }

  /**
   * The Bus was disconnected and is back: publications may have been lost meanwhile. Every
   * channel with positioned subscribers has its stream position read; subscribers behind it,
   * or on another epoch, are told their state is insufficient so they resubscribe and recover
   * (or learn they could not).
   */
  async handleReconnect(): Promise<void> {
    const channels = [...this.#channels.keys()];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < channels.length) {
        const channel = channels[next++]!;
        await this.#checkChannel(channel);
      }
    };
    await Promise.all(Array.from({ length: Math.min(RECONNECT_CHECK_CONCURRENCY, channels.length) }, worker));
  }

  async #checkChannel(channel: string): Promise<void> {
    const ch = this.#channels.get(channel);
    if (!ch) return;
    let positioned = false;
    for (const sub of ch.subs) if (sub.positioned && sub.buffer === null) positioned = true;
    if (!positioned) return;
    // 'unknown' when the read failed: nobody can tell what was lost, so everyone recovers.
    let top: StreamPosition | null | 'unknown';
    try {
      top = await this.#deps.streamTop(channel);
    } catch (err) {
      this.#deps.metrics.error('reconnect_check');
      this.#deps.log.warn({ err, channel }, 'stream position check after bus reconnect failed');
      top = 'unknown';
    }
    if (top === null) return;
    const current = this.#channels.get(channel);
    if (!current) return;
    const lost: Subscription[] = [];
    for (const sub of current.subs) {
      if (!sub.positioned || sub.buffer !== null) continue;
      if (top === 'unknown' || !epochMatches(sub.epoch, top.epoch) || top.offset > sub.offset) lost.push(sub);
    }
    for (const sub of lost) sub.session.insufficientState(sub);
  }
}
