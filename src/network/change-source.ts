/**
 * The serving side of replication on one link: sends this node's change log to the puller,
 * from the cursor the puller names, in chunks, only while it holds credit. Catch-up and live are
 * one loop: read a page after the cursor → send → when the page is empty, wait for a commit
 * (storage's log-advance notification) → read again. Nothing is buffered: a commit only wakes
 * the loop, so a slow puller costs this node one chunk at a time, never a queue.
 */
import { GENESIS_HASH } from '../domain/changelog.js';
import { MycelError } from '../errors.js';
import type { Change } from '../model/content.js';
import type { StorageReader } from '../storage/storage.js';
import type { ChangesMessage, PullMessage } from './protocol.js';

export interface ChangeSourceDeps {
  reader: Pick<StorageReader, 'getChanges' | 'readChangeHead'>;
  /** Storage's log-advance notification (this process's commits and, on PostgreSQL, other instances'). */
  onLogAdvance(listener: (serial: number) => void): () => void;
  chunkSize: number;
  /** Whether a change may be sent (the puller's channel permissions); null = everything, full chain. */
  permits: ((change: Change) => Promise<boolean>) | null;
  send(message: ChangesMessage): void;
  /** After each chunk sent: how many changes, and the head when read. */
  onSent(count: number, head: number): void;
  /** The loop failed (storage): the link closes with this error. */
  onError(err: unknown): void;
}

export class ChangeSource {
  readonly #deps: ChangeSourceDeps;
  #cursor = { serial: 0, hash: GENESIS_HASH };
  #credit = 0;
  /** Bumped by every pull, so a page read for an older pull is not sent. */
  #generation = 0;
  #running = false;
  #stopped = false;
  /** Set by every wake-up; the loop clears it before it reads, so no wake-up is lost in between. */
  #pending = false;
  #waiter: (() => void) | null = null;

  constructor(deps: ChangeSourceDeps) {
    this.#deps = deps;
  }

  /**
   * (Re)starts sending after `pull.after`, which must be a change of this log (0 = the
   * beginning): CURSOR_UNKNOWN otherwise. A pull while running replaces cursor and credit (the
   * puller repairs a gap this way).
   */
  async pull(pull: PullMessage): Promise<void> {
    const { serial, hash } = pull.after;
    if (serial === 0) {
      if (hash !== GENESIS_HASH) throw new MycelError('CURSOR_UNKNOWN', { serial, hash });
    } else {
      const [change] = await this.#deps.reader.getChanges(serial, 1);
      if (!change || change.serial !== serial || change.hash !== hash) throw new MycelError('CURSOR_UNKNOWN', { serial, hash });
    }
    this.#cursor = { serial, hash };
    this.#credit = pull.credit;
    this.#generation++;
    this.#wake();
    if (!this.#running) {
      this.#running = true;
      void this.#loop();
    }
  }

  /** The puller may receive `n` more chunks. */
  grant(n: number): void {
    this.#credit += n;
    this.#wake();
  }

  stop(): void {
    this.#stopped = true;
    this.#wake();
  }

  get cursorSerial(): number {
    return this.#cursor.serial;
  }

  #wake(): void {
    this.#pending = true;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  #wait(): Promise<void> {
    if (this.#pending) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  async #loop(): Promise<void> {
    const unsubscribe = this.#deps.onLogAdvance(() => this.#wake());
    try {
      while (!this.#stopped) {
        this.#pending = false;
        if (this.#credit <= 0) {
          await this.#wait();
          continue;
        }
        const generation = this.#generation;
        const page = await this.#deps.reader.getChanges(this.#cursor.serial + 1, this.#deps.chunkSize);
        if (this.#stopped || generation !== this.#generation) continue;
        if (page.length === 0) {
          await this.#wait();
          continue;
        }
        const permits = this.#deps.permits;
        let sent = page;
        if (permits !== null) {
          sent = [];
          for (const change of page) if (await permits(change)) sent.push(change);
        }
        const head = (await this.#deps.reader.readChangeHead()).serial;
        if (this.#stopped || generation !== this.#generation) continue;
        const last = page[page.length - 1]!;
        this.#cursor = { serial: last.serial, hash: last.hash };
        // A page with nothing the puller may see moves the cursor and costs no credit.
        if (sent.length === 0) continue;
        this.#credit--;
        this.#deps.send(permits === null ? { t: 'changes', changes: sent, head } : { t: 'changes', changes: sent, head, filtered: true });
        this.#deps.onSent(sent.length, head);
      }
    } catch (err) {
      if (!this.#stopped) this.#deps.onError(err);
    } finally {
      unsubscribe();
      this.#running = false;
    }
  }
}
