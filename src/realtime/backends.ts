import type { Logger } from '../log.js';
import type { Bus } from './bus.js';
import type { HistoryStore } from './history-store.js';
import { MemoryBus } from './memory/memory-bus.js';
import { MemoryHistoryStore } from './memory/memory-history-store.js';
import { MemoryPresenceState, MemoryPresenceStore } from './memory/memory-presence-store.js';
import { MemoryStreams } from './memory/memory-streams.js';
import type { PresenceStore } from './presence-store.js';
import { RedisBus } from './redis/redis-bus.js';
import { RedisHistoryStore } from './redis/redis-history-store.js';
import { RedisPresenceStore } from './redis/redis-presence-store.js';

export interface RealtimeBackends {
  readonly kind: 'memory' | 'redis';
  readonly bus: Bus;
  readonly history: HistoryStore;
  readonly presence: PresenceStore;
  close(): Promise<void>;
}

/**
 * The Bus, HistoryStore and PresenceStore of an instance: in memory for a single process, or on
 * Redis when `redisUrl` is set, so that several instances of one node behave as one server.
 * The key prefix carries the node id, so several nodes can share one Redis.
 */
export function createRealtimeBackends(options: { redisUrl?: string | undefined; nodeId: string; log: Logger }): RealtimeBackends {
  if (options.redisUrl) {
    const common = { url: options.redisUrl, prefix: `mycel:${options.nodeId}`, logger: options.log.child({ module: 'redis' }) };
    const bus = new RedisBus(common);
    const presence = new RedisPresenceStore(common);
    return {
      kind: 'redis',
      bus,
      history: new RedisHistoryStore(bus),
      presence,
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
    async close() {
      await Promise.allSettled([bus.close(), presence.close()]);
    },
  };
}
