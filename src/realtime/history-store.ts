import type { HistoryQuery, HistoryResult } from './types.js';

/**
 * Reads and removes channel history. Appending happens in `Bus.publish` (atomic with fan-out),
 * so each Bus implementation comes with the HistoryStore over the same data.
 */
export interface HistoryStore {
  history(channel: string, query: HistoryQuery): Promise<HistoryResult>;
  /** Drops a channel's publications; the stream keeps its offset and epoch. */
  removeHistory(channel: string): Promise<void>;
}
