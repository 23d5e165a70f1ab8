import type { Change } from '../model/content.js';
import type { StreamEvent } from '../storage/storage.js';

/** A channel stream event of a commit (see StorageTx.appendStreamEvent), with its channel's name. */
export interface CommittedStreamEvent {
  channel: string;
  event: StreamEvent;
}

/**
 * Receives the changes of each commit, in serial order, after they are durable, and the channel
 * stream events the commit appended, in offset order per channel.
 */
export type CommitListener = (changes: readonly Change[], streamEvents: readonly CommittedStreamEvent[]) => void;

/**
 * The one after-commit seam: realtime fan-out and, later, replication to child nodes listen
 * here. Listeners run synchronously after the commit; one that throws is reported to
 * `onListenerError` and does not stop the others or the writer.
 */
export class CommitHook {
  private readonly listeners = new Set<CommitListener>();

  constructor(private readonly onListenerError: (err: unknown) => void) {}

  on(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(changes: readonly Change[], streamEvents: readonly CommittedStreamEvent[] = []): void {
    if (changes.length === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(changes, streamEvents);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
