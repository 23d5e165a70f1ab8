import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MycelError } from '../../errors.js';

/**
 * One serving process per SQLite data directory. Two would each keep their own in-process
 * realtime bus, so subscribers on one would miss what is published on the other; several
 * instances of one node need PostgreSQL and Redis instead.
 *
 * The lock is an exclusive SQLite transaction on a small database of its own, `mycel.lock`,
 * held for the life of the process. SQLite takes it with the operating system's file locks
 * (POSIX fcntl, or LockFileEx on Windows), which the kernel drops when the process ends in
 * any way, SIGKILL included: nothing stale is ever left to clean up, and no PID in a file is
 * trusted. It also excludes a second holder inside the same process. The node's own database
 * is not locked this way, so one-shot commands (`mycel info`, `mycel verify`) still read it.
 */

/** The lock file's name inside the data directory. */
export const LOCK_FILE_NAME = 'mycel.lock';

/** A held lock; release() lets the next process take it. */
export interface DataDirLock {
  readonly file: string;
  release(): void;
}

/** Takes the data directory's lock now, or throws DATA_DIR_LOCKED if another holder has it. */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = join(dataDir, LOCK_FILE_NAME);
  let db: Database.Database | undefined;
  try {
    mkdirSync(dataDir, { recursive: true });
    // timeout 0: a held lock is reported at once instead of waited for.
    db = new Database(file, { timeout: 0 });
    // Once taken, the lock stays with this connection until it closes.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db?.close();
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new MycelError(
        'DATA_DIR_LOCKED',
        { dataDir, lockFile: file },
        `Another mycel process is serving the data directory ${dataDir} (it holds ${LOCK_FILE_NAME})`,
      );
    }
    throw new MycelError('STORAGE_UNAVAILABLE', { reason: `cannot take the lock ${file}` }, undefined, { cause: err });
  }
  const held = db;
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      held.exec('ROLLBACK');
      held.close();
    },
  };
}
