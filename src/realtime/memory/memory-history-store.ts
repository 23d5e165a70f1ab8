import { MycelError } from '../../errors.js';
import type { HistoryStore } from '../history-store.js';
import type { HistoryQuery, HistoryResult } from '../types.js';
import { checkHistoryQuery } from '../stream-rules.js';
import type { MemoryBus } from './memory-bus.js';
import type { MemoryStreams } from './memory-streams.js';

/** Reads the history that a MemoryBus appends to (the same MemoryStreams). */
export class MemoryHistoryStore implements HistoryStore {
  private readonly bus: MemoryBus;
  private readonly streams: MemoryStreams;

  /** Lives as long as the bus, like RedisHistoryStore, which shares the bus's connection. */
  constructor(bus: MemoryBus) {
    this.bus = bus;
    this.streams = bus.streams;
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    this.assertOpen();
    checkHistoryQuery(query);
    return this.streams.read(channel, query);
  }

  async removeHistory(channel: string): Promise<void> {
    this.assertOpen();
    this.streams.remove(channel);
  }

  private assertOpen(): void {
    if (this.bus.isClosed) throw new MycelError('SHUTTING_DOWN', { component: 'history' });
  }
}
