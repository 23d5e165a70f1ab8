import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { MycelError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { CURRENT_SCHEMA_VERSION, pendingMigrations, SCHEMA_MIGRATIONS_DDL } from '../migrations/index.js';
import { LogAdvanceListeners } from '../log-advance.js';
import type { MigrationReport, Storage, TxWork } from '../storage.js';
import { LogListener } from './log-listener.js';
import { QueryReader, QueryTx, type ConstraintMappers, type MaybePromise } from '../query-tx.js';
import { isConnectionError, PostgresQueries, toStorageError, type ConstraintMapper } from './postgres-queries.js';

export interface PostgresStorageOptions {
  /** postgres:// or postgresql:// URL. */
  url: string;
  /** Schema every connection of this storage works in; created by migrate() when missing. */
  schema?: string;
  /** Most connections the pool opens (default 10). */
  poolSize?: number;
  /** Where an error of an idle pooled connection is reported (the pool drops that connection). */
  log?: Logger;
}

const INT8_OID = 20;

/**
 * int8 (BIGINT, COUNT) arrives as a JS number, not pg's default string. Every int8 Mycel
 * stores (ms times, serials, seqs) is far below 2^53; a value beyond that is refused rather
 * than silently rounded. Scoped to this storage's pool: pg's global parsers stay untouched.
 */
function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${text} is outside the safe integer range`);
  return n;
}

const typeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Two keys of the migration advisory lock: Mycel's namespace, then the search path it migrates. */
const ADVISORY_NAMESPACE = 0x4d79_636c; // "Mycl"

/** Lower case only: such a name reads the same quoted or not, in SQL and in search_path. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function closedError(): MycelError {
  return new MycelError('STORAGE_UNAVAILABLE', { reason: 'the storage is closed' });
}

// Constraint failures a caller can explain, mapped to their domain codes.
const constraints: ConstraintMappers<ConstraintMapper> = {
  channel: (name) => (_state, constraint) => (constraint === 'channels_name_key' ? new MycelError('CHANNEL_EXISTS', { name }) : undefined),
  post: (channelId) => (state) => (state === '23503' ? new MycelError('CHANNEL_NOT_FOUND', { channelId }) : undefined),
  link: (l) => (state, constraint) => {
    if (state === '23503') return new MycelError('POST_NOT_FOUND', { fromPostId: l.fromPostId, toPostId: l.toPostId });
    if (constraint === 'links_from_post_id_to_post_id_label_key') {
      return new MycelError('LINK_EXISTS', { fromPostId: l.fromPostId, toPostId: l.toPostId, label: l.label });
    }
    return undefined;
  },
};

/** A write transaction on one checked-out client; only valid until its transaction ends. */
class PostgresTx extends QueryTx<PostgresQueries, ConstraintMapper> {
  constructor(
    client: pg.PoolClient,
    private readonly senderId: string,
  ) {
    super(new PostgresQueries(client), constraints);
  }

  /** Writes the moved head with a NOTIFY, so other instances on the database hear of the commit. */
  override flushHead(): MaybePromise<void> {
    const head = this.head.toWrite();
    return head ? this.q.writeChangeHeadAndNotify(head, this.senderId) : undefined;
  }

  /** Takes the head lock now. Must run at the top level: a savepoint rollback would drop it. */
  async lockHeadAtTop(): Promise<void> {
    this.head.loaded(await this.q.lockChangeHead());
  }

  protected override async run<T>(fn: (q: PostgresQueries) => MaybePromise<T>, constraint?: ConstraintMapper): Promise<T> {
    const q = this.live();
    try {
      return await fn(q);
    } catch (err) {
      throw toStorageError(err, constraint);
    }
  }
}

/**
 * Storage on PostgreSQL through a `pg` pool. Reads outside a transaction run on any pooled
 * connection (READ COMMITTED: only committed rows). Every change append takes the change_head
 * row lock (SELECT … FOR UPDATE), which serialises appenders across all processes sharing the
 * database, so serials stay gapless and unique.
 */
export class PostgresStorage extends QueryReader<PostgresQueries> implements Storage {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly q: PostgresQueries;
  private readonly schema: string | undefined;
  private readonly log: Logger | undefined;
  private closed = false;
  private closing: Promise<void> | null = null;
  /** This storage's id in its change-log notifications. */
  private readonly senderId = randomUUID();
  private readonly logAdvance: LogAdvanceListeners;
  private readonly listener: LogListener;
  /** The highest serial reported to the listeners (or read when listening began). */
  private reportedSerial = -1;

  constructor(options: PostgresStorageOptions) {
    super();
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new MycelError('CONFIG_INVALID', { key: 'database.schema', reason: 'a schema name is lower-case letters, digits and _ (at most 63)' });
    }
    this.schema = options.schema;
    this.log = options.log;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      // A startup parameter rather than a SET after connect: it holds before the first query.
      // Unquoted, exactly as a URL's `options=-c search_path=…` gives it: the migration lock is
      // keyed by this setting, so a process opened by URL and one by `schema` share the lock.
      ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
      types: typeParsers,
      application_name: 'mycel',
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
    });
    // An idle connection that dies is dropped by the pool; the next use opens a new one or
    // fails with STORAGE_UNAVAILABLE. Without a listener the error would crash the process.
    const log = options.log;
    this.pool.on('error', (err) => {
      log?.warn({ err: err.message }, 'an idle PostgreSQL connection failed; the pool dropped it');
    });
    this.q = new PostgresQueries(this.pool);
    this.logAdvance = new LogAdvanceListeners((err) => log?.error({ err }, 'a change-log listener failed'));
    this.listener = new LogListener({
      client: {
        connectionString: options.url,
        ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
        types: typeParsers,
        // With the schema, so an operator (or a test) can tell the listeners of several nodes apart.
        application_name: options.schema === undefined ? 'mycel-listen' : `mycel-listen ${options.schema}`,
        connectionTimeoutMillis: 10_000,
        keepAlive: true,
      },
      senderId: this.senderId,
      onRemoteAdvance: (serial) => this.reportAdvance(serial),
      onListening: () => void this.catchUpAfterListening(),
      ...(log === undefined ? {} : { log }),
    });
  }

  /**
   * Reports a head only when it is past every head reported before: listeners hear an
   * increasing sequence, each serial at most once. A notification that arrives after a later
   * head was reported (its commit was overtaken by a local one, or by the read after listening)
   * is old news: the listener re-reads from its own cursor anyway.
   */
  private reportAdvance(serial: number): void {
    if (serial <= this.reportedSerial) return;
    this.reportedSerial = serial;
    this.logAdvance.emit(serial);
  }

  /**
   * Once listening (first or again), reports the head if it is past what was reported: commits
   * of other instances made while nothing listened are not missed.
   */
  private async catchUpAfterListening(): Promise<void> {
    let head: number;
    try {
      head = (await this.q.readChangeHead()).serial;
    } catch (err) {
      // The database is unreachable again; the listener's connection fails too and comes back here.
      this.log?.warn({ err: err instanceof Error ? err.message : err }, 'cannot read the change-log head after listening');
      return;
    }
    // An empty log is nothing to report; otherwise the head read now is reported unless it was
    // already (at worst one wake-up too many on the first listen).
    if (head === 0 && this.reportedSerial < 0) this.reportedSerial = 0;
    else this.reportAdvance(head);
  }

  onLogAdvance(listener: (serial: number) => void): () => void {
    const remove = this.logAdvance.add(listener);
    // Listening begins with a read of the head (catchUpAfterListening), so a commit made after
    // this call, even before the LISTEN is in place, is reported: never a lost wake-up.
    if (!this.closed) this.listener.start();
    return remove;
  }

  protected override async run<T>(fn: (q: PostgresQueries) => MaybePromise<T>): Promise<T> {
    if (this.closed) throw closedError();
    try {
      return await fn(this.q);
    } catch (err) {
      throw toStorageError(err);
    }
  }

  /**
   * Runs `fn` on one checked-out client. The client goes back to the pool only when `fn` left
   * it clean (no transaction open, no advisory lock held); otherwise it is destroyed, which
   * also ends whatever its session still held.
   */
  private async withClient<T>(fn: (client: pg.PoolClient, markClean: (clean: boolean) => void) => Promise<T>): Promise<T> {
    if (this.closed) throw closedError();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw toStorageError(err);
    }
    let clean = true;
    try {
      return await fn(client, (c) => {
        clean = c;
      });
    } catch (err) {
      if (isConnectionError(err)) clean = false;
      throw toStorageError(err);
    } finally {
      client.release(clean ? undefined : true);
    }
  }

  migrate(): Promise<MigrationReport> {
    return this.withClient(async (client, markClean) => {
      markClean(false);
      // Session-level lock: two instances starting together migrate one after the other.
      await client.query(`SELECT pg_advisory_lock(${ADVISORY_NAMESPACE}, hashtext(current_setting('search_path')))`);
      const q = new PostgresQueries(client);
      let report: MigrationReport;
      try {
        if (this.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
        await client.query(SCHEMA_MIGRATIONS_DDL.postgres);
        const before = await q.migrationVersions();
        const pending = pendingMigrations(before);
        const from = before.reduce((max, v) => Math.max(max, v), 0);
        const applied: number[] = [];
        for (const m of pending) {
          await client.query('BEGIN');
          try {
            await client.query(m.postgres);
            await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK');
            throw err;
          }
          applied.push(m.version);
        }
        report = { from, to: CURRENT_SCHEMA_VERSION, applied };
      } finally {
        await client.query(`SELECT pg_advisory_unlock(${ADVISORY_NAMESPACE}, hashtext(current_setting('search_path')))`);
      }
      markClean(true);
      return report;
    });
  }

  transaction<T>(work: TxWork<T>): Promise<T> {
    return this.inTransaction(false, (tx) => work(tx));
  }

  transactionBatch(works: readonly TxWork[]): Promise<PromiseSettledResult<unknown>[]> {
    // Every batch of the write path appends, so the batch takes the head lock at its top
    // level at once: taken inside a work's savepoint, a rollback of that work would drop it.
    return this.inTransaction(true, async (tx, client) => {
      const results: PromiseSettledResult<unknown>[] = new Array(works.length);
      // Savepoint statements travel with their neighbours: one round trip per work.
      if (works.length > 0) await client.query('SAVEPOINT work');
      for (let i = 0; i < works.length; i++) {
        const mark = tx.head.mark();
        try {
          const value = await works[i]!(tx);
          // Fails (25P02) when the work swallowed a failed statement; then it is rolled back below.
          await client.query(i === works.length - 1 ? 'RELEASE SAVEPOINT work' : 'RELEASE SAVEPOINT work; SAVEPOINT work');
          results[i] = { status: 'fulfilled', value };
        } catch (reason) {
          // ROLLBACK TO keeps the savepoint, at the very point where the next work starts.
          await client.query('ROLLBACK TO SAVEPOINT work');
          tx.head.restore(mark);
          results[i] = { status: 'rejected', reason: toStorageError(reason) };
        }
      }
      return results;
    });
  }

  /**
   * Runs `body` in one transaction on a checked-out client: rolls back when it throws, else
   * commits. `lockHead` takes the head lock first, outside `body`'s rollback (a failure there
   * leaves the client unclean, so it is destroyed).
   */
  private inTransaction<T>(lockHead: boolean, body: (tx: PostgresTx, client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(async (client, markClean) => {
      markClean(false);
      await client.query('BEGIN');
      const tx = new PostgresTx(client, this.senderId);
      if (lockHead) await tx.lockHeadAtTop();
      let result: T;
      try {
        result = await body(tx, client);
      } catch (err) {
        tx.end();
        await client.query('ROLLBACK');
        markClean(true);
        throw err;
      }
      tx.end();
      const moved = tx.head.toWrite();
      await this.commit(client, tx);
      markClean(true);
      if (moved) this.reportAdvance(moved.serial);
      return result;
    });
  }

  /**
   * Writes the moved head and commits. A transaction that a failed statement aborted answers
   * COMMIT with ROLLBACK and no error, so the answer is checked: nothing rolled back is
   * acknowledged as committed.
   */
  private async commit(client: pg.PoolClient, tx: PostgresTx): Promise<void> {
    try {
      await tx.flushHead();
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
    const res = await client.query('COMMIT');
    if (res.command !== 'COMMIT') {
      throw new MycelError('INTERNAL', { reason: 'a statement failed inside the transaction, which was rolled back' });
    }
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    // end() waits for checked-out clients to be released, so running transactions finish first.
    this.closing = Promise.all([this.listener.stop(), this.pool.end()]).then(() => undefined);
    return this.closing;
  }
}
