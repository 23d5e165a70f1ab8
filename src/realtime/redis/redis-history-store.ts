import type { HistoryStore } from '../history-store.js';
import type { HistoryQuery, HistoryResult, Publication } from '../types.js';
import { checkHistoryQuery, newEpoch, ttlMs } from '../stream-rules.js';
import type { RedisBus } from './redis-bus.js';
import type { RedisConnection } from './redis-connection.js';
import { decodeStoredPublication } from './redis-codec.js';
import { HISTORY_LUA, metaKey, streamKey } from './redis-streams.js';

type StreamEntry = [id: string, fields: string[]];

/** Reads and removes the history a RedisBus appends to, over the bus's command connection. */
export class RedisHistoryStore implements HistoryStore {
  private readonly connection: RedisConnection;
  private readonly prefix: string;
  private readonly historyScript: ReturnType<RedisConnection['defineScript']>;

  constructor(bus: RedisBus) {
    this.connection = bus.commands;
    this.prefix = bus.prefix;
    this.historyScript = this.connection.defineScript('mycelStreamHistory', HISTORY_LUA, 2);
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    checkHistoryQuery(query);
    const { since } = query;
    const reply = await this.connection.run('history', () =>
      this.historyScript(
        [metaKey(this.prefix, channel), streamKey(this.prefix, channel)],
        [
          newEpoch(),
          ttlMs(query.metaTtlSeconds),
          query.limit,
          query.reverse ? 1 : 0,
          since ? 1 : 0,
          since?.offset ?? 0,
          since?.epoch ?? '',
        ],
      ),
    );
    const [offset, epoch, entries] = reply as [number, string, StreamEntry[]];
    const publications: Publication[] = entries.map(([id, fields]) => {
      const at = fields.indexOf('d');
      return decodeStoredPublication(Number.parseInt(id, 10), fields[at + 1] ?? 'null');
    });
    return { publications, position: { offset, epoch } };
  }

  async removeHistory(channel: string): Promise<void> {
    await this.connection.run('removeHistory', (c) => c.del(streamKey(this.prefix, channel)));
  }
}
