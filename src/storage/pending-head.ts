import type { Change } from '../model/content.js';
import { MycelError } from '../errors.js';
import type { ChangeHead } from './storage.js';

/**
 * The change-log head as one write transaction sees it, once it holds the head lock. Appends
 * move it here and only insert their change row; the transaction writes the head row once,
 * just before COMMIT. That saves a statement per append and, on PostgreSQL, avoids one dead
 * version of the single change_head row per append, which cannot be pruned while other
 * appenders wait on the lock and which every later lookup of the row would have to walk.
 */
export class PendingHead {
  private head: ChangeHead | null = null;
  private moved = false;

  /** The head once loaded (the lock is held), else null. */
  get current(): ChangeHead | null {
    return this.head;
  }

  /** Records the head read under the lock. */
  loaded(head: ChangeHead): ChangeHead {
    this.head = head;
    return { ...head };
  }

  /** Checks that `c` follows the head: a gap or a fork fails here, not later in verify. */
  check(c: Change): void {
    const head = this.head;
    if (head === null || c.serial !== head.serial + 1 || c.prevHash !== head.hash) {
      throw new MycelError('CHANGE_LOG_BROKEN', {
        serial: c.serial,
        reason: 'the change does not follow the head (serial must be head + 1 and prevHash the head hash)',
      });
    }
  }

  advance(c: Change): void {
    this.head = { serial: c.serial, hash: c.hash };
    this.moved = true;
  }

  /** The state before a work of a batch, to restore when its savepoint is rolled back. */
  mark(): ChangeHead | null {
    return this.head;
  }

  restore(mark: ChangeHead | null): void {
    this.head = mark;
  }

  /** The head to write before COMMIT, or null when no append moved it. */
  toWrite(): ChangeHead | null {
    return this.moved ? this.head : null;
  }
}
