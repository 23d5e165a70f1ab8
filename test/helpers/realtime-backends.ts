/**
 * The realtime back-ends (Bus + HistoryStore + PresenceStore) that conformance suites and
 * Hub tests run against, memory and Redis alike:
 *
 *   for (const factory of realtimeBackends) {
 *     describe(factory.name, () => {
 *       let backend: RealtimeBackend;
 *       beforeEach(async () => { backend = await factory.create(); });
 *       afterEach(() => backend.cleanup());
 *       it('...', async () => {
 *         const peer = await backend.createPeer(); // a second instance of the same node
 *       });
 *     });
 *   }
 *
 * - memory: one MemoryStreams + MemoryPresenceState per create(); a peer is another
 *   MemoryBus / MemoryPresenceStore on the same state (like a second process on one Redis).
 * - redis: every create() uses a fresh random key prefix on TEST_REDIS_URL; a peer has its
 *   own connections on the SAME prefix. cleanup() closes the peers too and deletes the
 *   prefix's keys (SCAN + DEL; never FLUSHDB).
 * Every create() resolves once its connections are up. cleanup() is idempotent.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Bus, BusHandler } from '../../src/realtime/bus.js';
import type { HistoryStore } from '../../src/realtime/history-store.js';
import type { PresenceStore } from '../../src/realtime/presence-store.js';
import type { BusMessage, ControlCommand, Publication } from '../../src/realtime/types.js';
import { MemoryStreams } from '../../src/realtime/memory/memory-streams.js';
import { MemoryBus } from '../../src/realtime/memory/memory-bus.js';
import { MemoryHistoryStore } from '../../src/realtime/memory/memory-history-store.js';
import { MemoryPresenceState, MemoryPresenceStore } from '../../src/realtime/memory/memory-presence-store.js';
import { RedisBus } from '../../src/realtime/redis/redis-bus.js';
import { RedisHistoryStore } from '../../src/realtime/redis/redis-history-store.js';
import { RedisPresenceStore } from '../../src/realtime/redis/redis-presence-store.js';
import { TEST_REDIS_URL } from './env.js';
import { Waiters } from './waiters.js';

/** One instance's view of the back-end. */
export interface RealtimeBackendInstance {
  bus: Bus;
  history: HistoryStore;
  presence: PresenceStore;
  /** Closes this instance (and, for the one create() returned, its peers and test data). */
  cleanup(): Promise<void>;
}

export interface RealtimeBackend extends RealtimeBackendInstance {
  /** Another instance sharing the same streams, pub/sub and presence. */
  createPeer(): Promise<RealtimeBackendInstance>;
  /** The Redis key prefix (redis only). */
  prefix?: string;
}

export interface RealtimeBackendFactory {
  name: 'memory' | 'redis';
  create(): Promise<RealtimeBackend>;
}

function memoryFactory(): RealtimeBackendFactory {
  return {
    name: 'memory',
    async create() {
      const streams = new MemoryStreams();
      const presenceState = new MemoryPresenceState();
      const instances: RealtimeBackendInstance[] = [];
      const makeInstance = (): RealtimeBackendInstance => {
        const bus = new MemoryBus({ streams });
        const presence = new MemoryPresenceStore({ state: presenceState });
        const instance = {
          bus,
          history: new MemoryHistoryStore(bus),
          presence,
          cleanup: async () => {
            await bus.close();
            await presence.close();
          },
        };
        instances.push(instance);
        return instance;
      };
      const main = makeInstance();
      return {
        ...main,
        createPeer: async () => makeInstance(),
        cleanup: async () => {
          for (const instance of instances) await instance.cleanup();
        },
      };
    },
  };
}

function redisFactory(url: string): RealtimeBackendFactory {
  return {
    name: 'redis',
    async create() {
      const prefix = `test-${randomBytes(6).toString('hex')}`;
      const instances: RealtimeBackendInstance[] = [];
      const makeInstance = async (): Promise<RealtimeBackendInstance> => {
        const bus = new RedisBus({ url, prefix });
        const presence = new RedisPresenceStore({ url, prefix });
        const instance = {
          bus,
          history: new RedisHistoryStore(bus),
          presence,
          cleanup: async () => {
            await bus.close();
            await presence.close();
          },
        };
        instances.push(instance);
        await Promise.all([bus.commands.firstUp(), bus.subscriber.firstUp(), presence.connection.firstUp()]);
        return instance;
      };
      const main = await makeInstance();
      let cleaned = false;
      return {
        ...main,
        prefix,
        createPeer: makeInstance,
        cleanup: async () => {
          if (cleaned) return;
          cleaned = true;
          for (const instance of instances) await instance.cleanup();
          await deleteKeys(url, prefix);
        },
      };
    },
  };
}

/** Deletes every key of a test prefix (the prefixes are random hex, so no glob escaping is needed). */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}.*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export const realtimeBackends: readonly RealtimeBackendFactory[] = [memoryFactory(), redisFactory(TEST_REDIS_URL)];

/**
 * A BusHandler that records everything and lets a test wait for a condition over what it
 * recorded, re-checked on every event (no polling, bounded by a timeout).
 */
export class BusRecorder implements BusHandler {
  readonly messages: Array<{ channel: string; message: BusMessage }> = [];
  readonly controls: ControlCommand[] = [];
  reconnects = 0;
  private readonly waiters = new Waiters();
  private readonly byChannel = new Map<string, BusMessage[]>();

  onMessage(channel: string, message: BusMessage): void {
    this.messages.push({ channel, message });
    const list = this.byChannel.get(channel);
    if (list) list.push(message);
    else this.byChannel.set(channel, [message]);
    this.notify();
  }

  onControl(command: ControlCommand): void {
    this.controls.push(command);
    this.notify();
  }

  onReconnect(): void {
    this.reconnects++;
    this.notify();
  }

  /** Messages of one channel, in arrival order (a live view: do not modify). */
  on(channel: string): readonly BusMessage[] {
    return this.byChannel.get(channel) ?? [];
  }

  /** Publications of one channel. */
  pubs(channel: string): Publication[] {
    return this.on(channel).flatMap((m) => (m.type === 'pub' ? [m.publication] : []));
  }

  /** Resolves with check()'s value once it is truthy; rejects after timeoutMs. */
  waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 5_000, what = 'condition'): Promise<T> {
    return this.waiters.wait(() => check() || undefined, timeoutMs, what);
  }

  private notify(): void {
    this.waiters.notify();
  }
}

/**
 * Polls an async condition until it holds, for states that change without an event (TTL
 * expiry). Bounded in time; resolves with the first truthy value.
 */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | null | false>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const { timeoutMs = 5_000, intervalMs = 100, what = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
