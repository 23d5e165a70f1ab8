import type { Storage, StorageReader } from '../storage/storage.js';
import { applyChange } from './apply.js';

export interface ReplayOptions {
  /** First serial to apply (default 1). */
  from?: number;
  /** Last serial to apply (default: to the end of the log as it is read). */
  through?: number;
  /** Changes read and applied per transaction. */
  pageSize?: number;
  /** Told the last serial applied after each page. */
  onProgress?: (applied: number) => void;
}

/**
 * Rebuilds state from a change log: applies the changes of `source` from `from` through
 * `through`, in serial order, to the entity tables of `target`, one page per transaction.
 * It writes no change log on `target` (that is replication's business, which appends each
 * imported change itself). A change that cannot be applied fails the replay with its
 * CHANGE_INVALID / CHANGE_UNSUPPORTED. Returns the next serial to apply.
 */
export async function replayLog(source: StorageReader, target: Storage, options: ReplayOptions = {}): Promise<number> {
  const pageSize = options.pageSize ?? 1000;
  const through = options.through ?? Number.MAX_SAFE_INTEGER;
  let next = options.from ?? 1;
  while (next <= through) {
    const page = (await source.getChanges(next, Math.min(pageSize, through - next + 1))).filter((c) => c.serial <= through);
    if (page.length === 0) break;
    await target.transaction(async (tx) => {
      for (const change of page) await applyChange(tx, change);
    });
    next = page[page.length - 1]!.serial + 1;
    options.onProgress?.(next - 1);
  }
  return next;
}
