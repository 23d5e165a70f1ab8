import type { ChangeHead, Storage, StorageTx } from '../storage/storage.js';
import type { Post } from '../model/content.js';
import { sealChange } from './changelog.js';
import type { CommitHook, CommittedStreamEvent } from './commit-hook.js';
import type { Change, ChangeDraft } from '../model/content.js';

/** The last change a unit appended, by origin (what a forwarded write's caller waits to import); null when it appended none. */
export function lastChangeRef(unit: UnitOfWork): { originNodeId: string; originSerial: number } | null {
  const last = unit.changes[unit.changes.length - 1];
  return last ? { originNodeId: last.originNodeId, originSerial: last.originSerial } : null;
}

/** What one operation sees while it writes: the transaction and the change log. */
export class UnitOfWork {
  readonly changes: Change[] = [];
  readonly streamEvents: CommittedStreamEvent[] = [];
  private head: ChangeHead | undefined;

  constructor(
    readonly tx: StorageTx,
    readonly nodeId: string,
    /** One clock reading per unit so entity and change carry the same time. */
    readonly now: number,
  ) {}

  /** Takes the change-log lock; every unit does this first so all writers are serialised. */
  async lock(): Promise<void> {
    this.head = await this.tx.lockChangeHead();
  }

  /** Appends a local change of this node to the log. */
  append(type: ChangeDraft['type'], payload: Record<string, unknown>, payloadVersion = 1): Promise<Change> {
    return this.appendDraft({ originNodeId: this.nodeId, type, payloadVersion, payload, createdAt: this.now });
  }

  /**
   * Appends another node's change (replication): it keeps its origin node and serial, type,
   * payload version, payload and time, and gets this log's next serial and hashes.
   * `hashChecked`: the caller has checked change.hash against the change's content
   * (replication.ts checkChunk).
   */
  async appendImported(change: Change, payloadJson?: string, hashChecked = false): Promise<Change> {
    const { originNodeId, originSerial, type, payloadVersion, payload, createdAt } = change;
    const head = this.head;
    if (hashChecked && head !== undefined && change.serial === head.serial + 1 && change.prevHash === head.hash) {
      // It lands at its own serial right after its own predecessor (a child copying its
      // parent's chain): sealed here it is the very record the peer holds, whose hash was just
      // checked, so hashing it a second time would only give the same hash.
      const same: Change = { serial: change.serial, originNodeId, originSerial, type, payloadVersion, payload, createdAt, prevHash: head.hash, hash: change.hash };
      return this.appendSealed(same);
    }
    return this.appendDraft({ originNodeId, originSerial, type, payloadVersion, payload, createdAt }, payloadJson);
  }

  /** The log head as this unit left it (after lock()). */
  get logHead(): ChangeHead {
    if (!this.head) throw new Error('UnitOfWork.logHead before lock');
    return { ...this.head };
  }

  /** `payloadJson`: canonicalJson(draft.payload) when the caller has it already. */
  private async appendDraft(draft: ChangeDraft, payloadJson?: string): Promise<Change> {
    if (!this.head) throw new Error('UnitOfWork.append before lock');
    return this.appendSealed(sealChange(this.head, draft, payloadJson));
  }

  /** Inserts a change that follows the head. */
  private async appendSealed(change: Change): Promise<Change> {
    await this.tx.insertChange(change);
    this.head = { serial: change.serial, hash: change.hash };
    this.changes.push(change);
    return change;
  }

  /**
   * Appends the post, as written in this unit, to its channel's event stream (creation, edit or
   * delete); returns the event's offset. `publisher` is opaque data about who published it.
   */
  async appendStreamEvent(channelName: string, post: Post, publisher: unknown = null): Promise<number> {
    const offset = await this.tx.appendStreamEvent(post, publisher);
    this.streamEvents.push({ channel: channelName, event: { offset, post, publisher } });
    return offset;
  }
}

export type WriteOp<T> = (unit: UnitOfWork) => Promise<T>;

interface Pending {
  op: WriteOp<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

export interface WriterOptions {
  /** Most operations committed in one transaction. */
  maxBatch?: number;
  clock?: () => number;
}

/**
 * The one write path. Operations queue here; the writer commits whatever is queued in one
 * transaction (group commit), each operation in its own savepoint, and only after the commit
 * is durable resolves each caller and tells the commit hook. Under load, batches grow and the
 * cost of each fsync is shared; when idle, a lone write commits at once.
 */
export class Writer {
  private readonly queue: Pending[] = [];
  private flushing = false;
  private closed = false;
  private readonly maxBatch: number;
  private readonly clock: () => number;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly storage: Storage,
    private readonly nodeId: string,
    private readonly hook: CommitHook,
    options: WriterOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 1000;
    this.clock = options.clock ?? Date.now;
  }

  /** Runs `op` inside the next commit; resolves with its result once the commit is durable. */
  run<T>(op: WriteOp<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('writer is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op: op as WriteOp<unknown>, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushing) {
        this.flushing = true;
        // setImmediate lets the writes of this tick (and I/O callbacks) join the batch.
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Stops accepting writes and waits for the queued ones to commit. */
  async close(): Promise<void> {
    this.closed = true;
    if (!this.flushing && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      const works = batch.map((item) => async (tx: StorageTx) => {
        const unit = new UnitOfWork(tx, this.nodeId, this.clock());
        await unit.lock();
        const result = await item.op(unit);
        return { result, unit };
      });
      let settled: PromiseSettledResult<unknown>[];
      try {
        settled = await this.storage.transactionBatch(works);
      } catch (err) {
        // The commit failed: nothing of this batch is durable, so every caller hears it.
        for (const item of batch) item.reject(err);
        continue;
      }
      const committed: Change[] = [];
      const streamEvents: CommittedStreamEvent[] = [];
      settled.forEach((outcome) => {
        if (outcome.status !== 'fulfilled') return;
        const { unit } = outcome.value as { unit: UnitOfWork };
        committed.push(...unit.changes);
        streamEvents.push(...unit.streamEvents);
      });
      this.hook.emit(committed, streamEvents);
      settled.forEach((outcome, i) => {
        const item = batch[i]!;
        if (outcome.status === 'fulfilled') item.resolve((outcome.value as { result: unknown }).result);
        else item.reject(outcome.reason);
      });
    }
    this.flushing = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
