import type { ReadinessCheck } from '../lib/readiness.js';
import type { Logger } from '../log.js';
import type { Bus } from './bus.js';
import type { HistoryStore } from './history-store.js';
import { MemoryBus } from './memory/memory-bus.js';
import { MemoryHistoryStore } from './memory/memory-history-store.js';
import { MemoryPresenceState, MemoryPresenceStore } from './memory/memory-presence-store.js';
import { MemoryStreams } from './memory/memory-streams.js';
import type { PresenceStore } from './presence-store.js';
import { RedisBus } from './redis/redis-bus.js';
import { RedisHealth } from './redis/redis-health.js';
import { RedisHistoryStore } from './redis/redis-history-store.js';
import { RedisPresenceStore } from './redis/redis-presence-store.js';

export interface RealtimeBackends {
  readonly kind: 'memory' | 'redis';
  readonly bus: Bus;
  readonly history: HistoryStore;
  readonly presence: PresenceStore;
  /** What /readyz must ask about these back-ends (none in memory). */
  readonly readiness: readonly ReadinessCheck[];
  close(): Promise<void>;
}

/**
 * The Bus, HistoryStore and PresenceStore of an instance: in memory for a single process, or on
 * Redis when `redisUrl` is set, so that several instances of one node behave as one server.
 * The key prefix carries the node id, so several nodes can share one Redis.
 */
export function createRealtimeBackends(options: { redisUrl?: string | undefined; nodeId: string; log: Logger }): RealtimeBackends {
  if (options.redisUrl) {
    const logger = options.log.child({ module: 'redis' });
    // One health for the three connections: an outage is logged once, and readiness sees all of them.
    const health = new RedisHealth(options.redisUrl, logger);
    const common = { url: options.redisUrl, prefix: `mycel:${options.nodeId}`, logger, health };
    const bus = new RedisBus(common);
    const presence = new RedisPresenceStore(common);
    return {
      kind: 'redis',
      bus,
      history: new RedisHistoryStore(bus),
      presence,
      readiness: [health],
      async close() {
        await Promise.allSettled([bus.close(), presence.close()]);
      },
    };
  }
  const bus = new MemoryBus({ streams: new MemoryStreams() });
  const presence = new MemoryPresenceStore({ state: new MemoryPresenceState() });
  return {
    kind: 'memory',
    bus,
    history: new MemoryHistoryStore(bus),
    presence,
    readiness: [],
    async close() {
      await Promise.allSettled([bus.close(), presence.close()]);
    },
  };
}
