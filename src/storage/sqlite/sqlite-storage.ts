import Database from 'better-sqlite3';
import { MycelError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { LogAdvanceListeners } from '../log-advance.js';
import { CURRENT_SCHEMA_VERSION, pendingMigrations, SCHEMA_MIGRATIONS_DDL } from '../migrations/index.js';
import type { MigrationReport, Storage, TxWork } from '../storage.js';
import { QueryReader, QueryTx, type ConstraintMappers, type MaybePromise } from '../query-tx.js';
import { SqliteQueries, toStorageError } from './sqlite-queries.js';

export interface SqliteStorageOptions {
  /** A file path, or `:memory:`. The directory must exist. */
  path: string;
  /** How long a write transaction waits for another connection's write lock before failing (ms). */
  busyTimeoutMs?: number;
  /** Where a failing onLogAdvance listener is reported. */
  log?: Logger;
}

const noop = (): void => {};

function abortedError(): MycelError {
  return new MycelError('INTERNAL', { reason: 'a statement failed earlier in this transaction, which can only be rolled back' });
}

function closedError(): MycelError {
  return new MycelError('STORAGE_UNAVAILABLE', { reason: 'the storage is closed' });
}

// Constraint failures a caller can explain, mapped to their domain codes.
type ConstraintMapper = NonNullable<Parameters<typeof toStorageError>[1]>;
const constraints: ConstraintMappers<ConstraintMapper> = {
  channel: (name) => (_code, message) => (message.includes('channels.name') ? new MycelError('CHANNEL_EXISTS', { name }) : undefined),
  post: (channelId) => (code) => (code === 'SQLITE_CONSTRAINT_FOREIGNKEY' ? new MycelError('CHANNEL_NOT_FOUND', { channelId }) : undefined),
  link: (l) => (code, message) => {
    if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new MycelError('POST_NOT_FOUND', { fromPostId: l.fromPostId, toPostId: l.toPostId });
    if (message.includes('links.from_post_id')) return new MycelError('LINK_EXISTS', { fromPostId: l.fromPostId, toPostId: l.toPostId, label: l.label });
    return undefined;
  },
};

/** A write transaction on the write connection; only valid until its transaction ends. */
class SqliteTx extends QueryTx<SqliteQueries, ConstraintMapper> {
  /**
   * Set when a statement failed. SQLite would let the transaction go on without that statement,
   * PostgreSQL aborts it; both backends behave like PostgreSQL, so a work that swallows a
   * storage error fails the same way on both instead of committing on one of them.
   */
  failed = false;

  constructor(q: SqliteQueries) {
    super(q, constraints);
  }

  protected override live(): SqliteQueries {
    const q = super.live();
    if (this.failed) throw abortedError();
    return q;
  }

  /** Runs a statement, turning SQLite errors into typed ones. */
  protected override run<T>(fn: (q: SqliteQueries) => MaybePromise<T>, constraint?: ConstraintMapper): Promise<T> {
    try {
      return Promise.resolve(fn(this.live()));
    } catch (err) {
      if (err instanceof Database.SqliteError) this.failed = true;
      return Promise.reject(toStorageError(err, constraint));
    }
  }
}

/**
 * Storage on SQLite through better-sqlite3. One write connection; write transactions
 * (BEGIN IMMEDIATE) run one at a time through a queue, because the work inside them awaits and
 * another transaction must not interleave on the same connection. Reads outside a transaction
 * use a second, read-only connection when the database is a file: WAL lets it read the last
 * committed state while a write transaction is open. A `:memory:` database has only one
 * connection, so such reads wait for the open write transaction to end (never a dirty read);
 * there, awaiting a read on the storage itself from inside a transaction would wait forever:
 * inside a transaction, read through the transaction.
 */
export class SqliteStorage extends QueryReader<SqliteQueries> implements Storage {
  readonly dialect = 'sqlite' as const;
  private readonly writeConnection: Database.Database;
  private readonly reader: Database.Database | null;
  private readonly w: SqliteQueries;
  private readonly r: SqliteQueries;
  /** The last queued operation on the write connection; the next one starts after it. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Operations queued or running on the write connection. */
  private pending = 0;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly busyTimeout: number;
  private readonly logAdvance: LogAdvanceListeners;

  constructor(options: SqliteStorageOptions) {
    super();
    const memory = options.path === ':memory:';
    const busyTimeout = options.busyTimeoutMs ?? 5000;
    this.busyTimeout = busyTimeout;
    const log = options.log;
    this.logAdvance = new LogAdvanceListeners((err) => log?.error({ err }, 'a change-log listener failed'));
    let writeConnection: Database.Database | null = null;
    let reader: Database.Database | null = null;
    try {
      writeConnection = new Database(options.path);
      if (!memory) {
        const mode = writeConnection.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal') throw new MycelError('STORAGE_UNAVAILABLE', { reason: `journal_mode is ${String(mode)}, WAL is required` });
      }
      // FULL: a commit is on disk (WAL synced) before it is acknowledged, even across power loss.
      writeConnection.pragma('synchronous = FULL');
      writeConnection.pragma('foreign_keys = ON');
      // 32 MiB of page cache (the default is 2 MiB): the write path touches the tails of several
      // indexes per post, and keeping them cached is most of the difference under load.
      writeConnection.pragma('cache_size = -32768');
      // No busy wait on the write connection: SQLite would block the whole event loop while
      // another connection holds the write lock, and when that connection lives in this same
      // process it could never finish. beginImmediate() waits asynchronously instead.
      writeConnection.pragma('busy_timeout = 0');
      if (!memory) {
        reader = new Database(options.path, { readonly: true, fileMustExist: true });
        reader.pragma(`busy_timeout = ${busyTimeout}`);
      }
    } catch (err) {
      reader?.close();
      writeConnection?.close();
      const mapped = toStorageError(err);
      // better-sqlite3 reports some failures to open (a missing directory) as a plain TypeError.
      if (mapped instanceof MycelError) throw mapped;
      throw new MycelError('STORAGE_UNAVAILABLE', { reason: err instanceof Error ? err.message : String(err) }, undefined, { cause: err });
    }
    this.writeConnection = writeConnection;
    this.reader = reader;
    this.w = new SqliteQueries(writeConnection);
    this.r = reader ? new SqliteQueries(reader) : this.w;
  }

  /** Queues `fn` behind every earlier operation on the write connection. */
  private enqueue<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    this.pending++;
    const run = this.tail.then(fn).finally(() => {
      this.pending--;
    });
    this.tail = run.then(noop, noop);
    return run;
  }

  /** A read outside any transaction: never sees rows a write transaction has not committed. */
  protected override run<T>(fn: (q: SqliteQueries) => MaybePromise<T>): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    if (this.reader !== null || this.pending === 0) {
      try {
        return Promise.resolve(fn(this.r));
      } catch (err) {
        return Promise.reject(toStorageError(err));
      }
    }
    return this.enqueue(() => {
      try {
        return fn(this.r);
      } catch (err) {
        throw toStorageError(err);
      }
    });
  }

  migrate(): Promise<MigrationReport> {
    return this.enqueue(async () => {
      const q = this.w;
      let from: number | undefined;
      const applied: number[] = [];
      // One transaction per migration. What is pending is read under the write lock, because
      // another process may have migrated in the meantime.
      for (;;) {
        await this.beginImmediate();
        try {
          this.writeConnection.exec(SCHEMA_MIGRATIONS_DDL.sqlite);
          const versions = q.migrationVersions();
          from ??= versions.reduce((max, v) => Math.max(max, v), 0);
          const next = pendingMigrations(versions)[0]; // refuses a newer schema before touching anything
          if (next === undefined) {
            this.commit();
            break;
          }
          this.writeConnection.exec(next.sqlite);
          q.recordMigration(next.version, next.name, Date.now());
          this.commit();
          applied.push(next.version);
        } catch (err) {
          this.rollbackAfter(err);
          throw toStorageError(err);
        }
      }
      return { from, to: CURRENT_SCHEMA_VERSION, applied };
    });
  }

  /**
   * BEGIN IMMEDIATE: takes the database's write lock now, not at the first write. When
   * another connection (another process, or another storage on this file in this process)
   * holds it, waits without blocking the event loop, up to busyTimeoutMs.
   */
  private async beginImmediate(): Promise<void> {
    const deadline = performance.now() + this.busyTimeout;
    for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
      try {
        this.w.begin();
        return;
      } catch (err) {
        const busy = err instanceof Database.SqliteError && err.code.startsWith('SQLITE_BUSY');
        if (!busy || performance.now() >= deadline) throw toStorageError(err);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  transaction<T>(work: TxWork<T>): Promise<T> {
    return this.enqueue(async () => {
      await this.beginImmediate();
      const tx = new SqliteTx(this.w);
      let result: T;
      try {
        result = await work(tx);
      } catch (err) {
        tx.end();
        this.rollbackAfter(err);
        throw err;
      }
      tx.end();
      this.commit(tx);
      return result;
    });
  }

  transactionBatch(works: readonly TxWork[]): Promise<PromiseSettledResult<unknown>[]> {
    return this.enqueue(async () => {
      const q = this.w;
      await this.beginImmediate();
      const tx = new SqliteTx(q);
      const results: PromiseSettledResult<unknown>[] = new Array(works.length);
      try {
        for (let i = 0; i < works.length; i++) {
          q.savepoint();
          const mark = tx.head.mark();
          try {
            const value = await works[i]!(tx);
            // The work swallowed a failed statement: it is rolled back like one that threw.
            if (tx.failed) throw abortedError();
            q.release();
            results[i] = { status: 'fulfilled', value };
          } catch (reason) {
            // Some failures (a full disk, an I/O error) make SQLite abandon the whole
            // transaction; then nothing of the batch can commit and the batch fails.
            if (!this.writeConnection.inTransaction) throw reason;
            q.rollbackToSavepoint();
            tx.head.restore(mark);
            tx.failed = false;
            results[i] = { status: 'rejected', reason };
          }
        }
      } catch (err) {
        tx.end();
        this.rollbackAfter(err);
        throw toStorageError(err);
      }
      tx.end();
      this.commit(tx);
      return results;
    });
  }

  /**
   * Writes the head a transaction moved, then commits; on failure rolls back and throws, so
   * nothing is acknowledged that is not durable.
   */
  private commit(tx?: SqliteTx): void {
    const moved = tx?.head.toWrite() ?? null;
    try {
      if (tx?.failed) throw abortedError();
      tx?.flushHead();
      this.w.commit();
    } catch (err) {
      this.rollbackAfter(err);
      throw toStorageError(err);
    }
    // One process serves a data directory (data-dir-lock.ts), so this process sees every append.
    if (moved) this.logAdvance.emit(moved.serial);
  }

  onLogAdvance(listener: (serial: number) => void): () => void {
    return this.logAdvance.add(listener);
  }

  /** Rolls back after `cause`; if even that fails the connection is unusable, and says so. */
  private rollbackAfter(cause: unknown): void {
    try {
      this.w.rollback();
    } catch (rollbackErr) {
      throw new MycelError('STORAGE_UNAVAILABLE', { reason: 'rollback failed' }, undefined, {
        cause: new AggregateError([cause, rollbackErr]),
      });
    }
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    // Let queued operations finish, then close both connections (the last close checkpoints the WAL).
    this.closing = this.tail.then(() => {
      this.reader?.close();
      this.writeConnection.close();
    });
    return this.closing;
  }
}
