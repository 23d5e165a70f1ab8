import type { BusMessage, ControlCommand, HistoryOptions, HistoryQuery, HistoryResult, Publication, StreamPosition } from '../types.js';
import { epochMatches, newEpoch, ttlMs } from '../stream-rules.js';

/**
 * The in-process stand-in for one Redis server: the channels' streams (position + history)
 * and the pub/sub fan-out between the MemoryBus instances attached to it. Several buses on
 * one MemoryStreams behave like several instances on one Redis (tests use that for peers).
 *
 * Expiry mirrors Redis key TTLs: the publications live `ttlSeconds` after the last publish,
 * the position (offset + epoch) `metaTtlSeconds` after the last publish or read. Expired
 * state is dropped lazily on access and by a periodic, unref'd sweep that runs while at
 * least one bus is attached.
 */

/** A receiver of fan-out: one MemoryBus. */
export interface MemoryEndpoint {
  receive(channel: string, message: BusMessage): void;
  receiveControl(command: ControlCommand): void;
}

interface Stream {
  epoch: string;
  /** Top offset; 0 before the first publication. */
  offset: number;
  /** Consecutive offsets, oldest first, so an offset's index is `offset - pubs[0].offset`. */
  pubs: Publication[];
  pubsExpireAt: number;
  metaExpireAt: number;
}

export interface MemoryStreamsOptions {
  /** How often expired streams are dropped; lazy expiry keeps reads exact in between. */
  sweepIntervalMs?: number;
}

export class MemoryStreams {
  private readonly streams = new Map<string, Stream>();
  private readonly subscribers = new Map<string, Set<MemoryEndpoint>>();
  private readonly endpoints = new Set<MemoryEndpoint>();
  private readonly sweepIntervalMs: number;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: MemoryStreamsOptions = {}) {
    this.sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  }

  attach(endpoint: MemoryEndpoint): void {
    this.endpoints.add(endpoint);
    if (!this.sweepTimer) {
      this.sweepTimer = setInterval(() => this.sweep(), this.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  /** Detaches a bus and its subscriptions; the sweep stops with the last bus. */
  detach(endpoint: MemoryEndpoint, channels: Iterable<string>): void {
    for (const channel of channels) this.unsubscribe(channel, endpoint);
    this.endpoints.delete(endpoint);
    if (this.endpoints.size === 0 && this.sweepTimer) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  subscribe(channel: string, endpoint: MemoryEndpoint): void {
    let set = this.subscribers.get(channel);
    if (!set) {
      set = new Set();
      this.subscribers.set(channel, set);
    }
    set.add(endpoint);
  }

  unsubscribe(channel: string, endpoint: MemoryEndpoint): void {
    const set = this.subscribers.get(channel);
    if (!set) return;
    set.delete(endpoint);
    if (set.size === 0) this.subscribers.delete(channel);
  }

  /**
   * Delivers asynchronously (one microtask per receiver, FIFO, so per-channel order holds),
   * as Redis does: a handler never runs inside the publisher's call stack.
   */
  fanOut(channel: string, message: BusMessage): void {
    const set = this.subscribers.get(channel);
    if (!set) return;
    for (const endpoint of set) queueMicrotask(() => endpoint.receive(channel, message));
  }

  broadcastControl(command: ControlCommand): void {
    for (const endpoint of this.endpoints) queueMicrotask(() => endpoint.receiveControl(command));
  }

  /** Gives the publication the next offset, stores it, trims, and refreshes the TTLs. */
  append(channel: string, publication: Publication, options: HistoryOptions): { publication: Publication; position: StreamPosition } {
    const now = Date.now();
    const stream = this.ensure(channel, now, ttlMs(options.metaTtlSeconds));
    stream.offset += 1;
    const stored: Publication = { ...publication, offset: stream.offset };
    stream.pubs.push(stored);
    if (stream.pubs.length > options.size) stream.pubs.splice(0, stream.pubs.length - options.size);
    stream.pubsExpireAt = now + ttlMs(options.ttlSeconds);
    return { publication: { ...stored }, position: { offset: stream.offset, epoch: stream.epoch } };
  }

  /** Same selection rules as the Redis history script (see redis-streams.ts). */
  read(channel: string, query: HistoryQuery): HistoryResult {
    const stream = this.ensure(channel, Date.now(), ttlMs(query.metaTtlSeconds));
    const position = { offset: stream.offset, epoch: stream.epoch };
    const { limit, since, reverse } = query;
    if (limit === 0) return { publications: [], position };
    if (since && !epochMatches(since.epoch, stream.epoch)) return { publications: [], position };
    const pubs = stream.pubs;
    const first = pubs[0]?.offset ?? 0;
    // [from, to) is the index range of the candidates in ascending order.
    let from = 0;
    let to = pubs.length;
    if (since && !reverse) from = Math.min(pubs.length, Math.max(0, since.offset + 1 - first));
    if (since && reverse) to = Math.max(0, Math.min(pubs.length, since.offset - first));
    const count = limit < 0 ? to - from : Math.min(limit, to - from);
    const publications: Publication[] = [];
    if (reverse) {
      for (let i = to - 1; i >= to - count; i--) publications.push({ ...pubs[i]! });
    } else {
      for (let i = from; i < from + count; i++) publications.push({ ...pubs[i]! });
    }
    return { publications, position };
  }

  /** Drops the publications; the position stays (and keeps its TTL). */
  remove(channel: string): void {
    const stream = this.live(channel, Date.now());
    if (stream) stream.pubs = [];
  }

  private live(channel: string, now: number): Stream | undefined {
    const stream = this.streams.get(channel);
    if (!stream) return undefined;
    if (now >= stream.metaExpireAt) {
      this.streams.delete(channel);
      return undefined;
    }
    if (stream.pubs.length > 0 && now >= stream.pubsExpireAt) stream.pubs = [];
    return stream;
  }

  /** The live stream, created with a new epoch if missing; its position TTL is refreshed. */
  private ensure(channel: string, now: number, metaTtl: number): Stream {
    let stream = this.live(channel, now);
    if (!stream) {
      stream = { epoch: newEpoch(), offset: 0, pubs: [], pubsExpireAt: 0, metaExpireAt: 0 };
      this.streams.set(channel, stream);
    }
    stream.metaExpireAt = now + metaTtl;
    return stream;
  }

  private sweep(): void {
    const now = Date.now();
    for (const channel of this.streams.keys()) this.live(channel, now);
  }
}
