/**
 * Both storage backends for tests. Every suite that touches storage loops over
 * `storageBackends` so it runs on SQLite and on PostgreSQL alike:
 *
 *   for (const backend of storageBackends) {
 *     describe(backend.name, () => {
 *       let h: StorageHandle;
 *       beforeEach(async () => { h = await backend.create(); });
 *       afterEach(() => h.cleanup());
 *       …
 *     });
 *   }
 *
 * SQLite gets a fresh temp dir (file mycel.db in it); PostgreSQL a fresh random schema on
 * TEST_DATABASE_URL, dropped by cleanup().
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { afterEach, beforeEach } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createStorage, SQLITE_FILE_NAME } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { TEST_DATABASE_URL } from './env.js';

export type BackendName = 'sqlite' | 'postgres';

export interface StorageHandle {
  readonly name: BackendName;
  /** Migrated unless create({ migrate: false }) was asked. */
  readonly storage: Storage;
  /** A temp dir of this handle (the SQLite file lives here; removed by cleanup). */
  readonly dataDir: string;
  /**
   * A `database.url` that opens this very database from anywhere, a child process included:
   * `sqlite:<file>`, or the PostgreSQL URL with the schema as its search_path.
   */
  readonly url: string;
  /** PostgreSQL only: the schema of this handle. */
  readonly schema?: string;
  /** Opens another Storage (another connection or pool) on the same database; cleanup closes it. */
  open(): Storage;
  /** Closes every storage of this handle and deletes the database (temp dir, schema). Idempotent. */
  cleanup(): Promise<void>;
}

export interface StorageBackend {
  readonly name: BackendName;
  create(options?: { migrate?: boolean }): Promise<StorageHandle>;
}

/**
 * For each test of the enclosing describe, a fresh migrated storage of `backend`, deleted after
 * the test: read `handle` (or `storage`) inside the test.
 */
export function freshStorageEach(backend: StorageBackend): { readonly handle: StorageHandle; readonly storage: Storage } {
  let current: StorageHandle | undefined;
  beforeEach(async () => {
    current = await backend.create();
  });
  afterEach(async () => {
    await current?.cleanup();
    current = undefined;
  });
  return {
    get handle(): StorageHandle {
      if (current === undefined) throw new Error('freshStorageEach: read inside a test');
      return current;
    },
    get storage(): Storage {
      return this.handle.storage;
    },
  };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'mycel-test-'));
}

function withQueryParam(url: string, key: string, value: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Builds the handle shared by both backends: tracks storages, cleans up once. */
function handle(
  name: BackendName,
  dataDir: string,
  url: string,
  schema: string | undefined,
  openOne: () => Storage,
  dropDatabase: () => Promise<void>,
): StorageHandle {
  const opened: Storage[] = [];
  let cleaning: Promise<void> | null = null;
  const open = (): Storage => {
    const s = openOne();
    opened.push(s);
    return s;
  };
  const storage = open();
  const h: StorageHandle = {
    name,
    storage,
    dataDir,
    url,
    ...(schema === undefined ? {} : { schema }),
    open,
    cleanup() {
      cleaning ??= (async () => {
        const closes = await Promise.allSettled(opened.map((s) => s.close()));
        try {
          await dropDatabase();
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
        const failed = closes.find((c): c is PromiseRejectedResult => c.status === 'rejected');
        if (failed) throw failed.reason;
      })();
      return cleaning;
    },
  };
  return h;
}

/** Migrates a new handle unless `migrate: false` was asked; on failure cleans it up and rethrows. */
async function prepared(h: StorageHandle, options: { migrate?: boolean }): Promise<StorageHandle> {
  try {
    if (options.migrate !== false) await h.storage.migrate();
  } catch (err) {
    await h.cleanup();
    throw err;
  }
  return h;
}

const sqliteBackend: StorageBackend = {
  name: 'sqlite',
  async create(options = {}) {
    const dataDir = tempDir();
    const file = join(dataDir, SQLITE_FILE_NAME);
    const h = handle('sqlite', dataDir, `sqlite:${file}`, undefined, () => createStorage({ url: 'sqlite', dataDir }), async () => {});
    return prepared(h, options);
  },
};

const postgresBackend: StorageBackend = {
  name: 'postgres',
  async create(options = {}) {
    const dataDir = tempDir();
    const schema = `mycel_test_${randomBytes(6).toString('hex')}`;
    // Created here (not only by migrate) so that `url`, which names the schema, works at once.
    try {
      await adminQuery(`CREATE SCHEMA "${schema}"`);
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true });
      throw err;
    }
    const h = handle(
      'postgres',
      dataDir,
      withQueryParam(TEST_DATABASE_URL, 'options', `-c search_path=${schema}`),
      schema,
      () => createStorage({ url: TEST_DATABASE_URL, dataDir, schema, poolSize: 4 }),
      () => adminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
    );
    return prepared(h, options);
  },
};

/** Every storage backend; each test suite that uses storage runs against all of them. */
export const storageBackends: readonly StorageBackend[] = [sqliteBackend, postgresBackend];

export interface RawResult {
  rows: Record<string, unknown>[];
  rowCount: number;
}

/**
 * Runs raw SQL on a handle's database through a connection of its own, bypassing the storage
 * (tests tamper with rows this way). Placeholders are `$1, $2…` on both databases. On SQLite,
 * do not call it while a write transaction of the same process is open: it would wait for
 * that transaction's lock while blocking the thread that has to finish it.
 */
export async function rawExec(h: StorageHandle, sql: string, params: readonly unknown[] = []): Promise<RawResult> {
  if (h.name === 'sqlite') {
    const db = new Database(h.url.slice('sqlite:'.length), { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      // better-sqlite3 binds `?` by position: turn each `$n` into `?` and the values into that order.
      const ordered: unknown[] = [];
      const stmt = db.prepare(sql.replace(/\$(\d+)/g, (_, n: string) => (ordered.push(params[Number(n) - 1]), '?')));
      if (stmt.reader) {
        const rows = stmt.all(...ordered) as Record<string, unknown>[];
        return { rows, rowCount: rows.length };
      }
      return { rows: [], rowCount: stmt.run(...ordered).changes };
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: h.url });
  await client.connect();
  try {
    const res = await client.query(sql, params as unknown[]);
    return { rows: res.rows as Record<string, unknown>[], rowCount: res.rowCount ?? 0 };
  } finally {
    await client.end();
  }
}

/**
 * The environment that points a `mycel` process at a fresh, unmigrated database of `backend`
 * (SQLite in `<dir>/data`, or a fresh PostgreSQL schema), merged over `env`, and its cleanup.
 */
export async function processDatabase(
  backend: BackendName,
  dir: string,
  env: Record<string, string>,
): Promise<{ env: Record<string, string>; cleanup: () => Promise<void> }> {
  const base = { ...env, MYCEL_DB_DIR: join(dir, 'data') };
  if (backend === 'sqlite') return { env: base, cleanup: async () => {} };
  const h = await postgresBackend.create({ migrate: false });
  return { env: { ...base, MYCEL_DATABASE_URL: h.url }, cleanup: () => h.cleanup() };
}
