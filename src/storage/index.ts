import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { MycelError } from '../errors.js';
import type { Logger } from '../log.js';
import { PostgresStorage } from './postgres/postgres-storage.js';
import { SqliteStorage } from './sqlite/sqlite-storage.js';
import type { Storage } from './storage.js';

export type { Storage } from './storage.js';
export { CURRENT_SCHEMA_VERSION } from './migrations/index.js';

export interface CreateStorageOptions {
  /** `sqlite` (mycel.db in dataDir), `:memory:`, `sqlite:<path>`, or a postgres:// URL. */
  url: string;
  dataDir: string;
  /** PostgreSQL only: the schema to work in (tests use a fresh one each). */
  schema?: string;
  /** PostgreSQL only: most pooled connections. */
  poolSize?: number;
  log?: Logger;
}

/** The file name of the SQLite database inside the data directory. */
export const SQLITE_FILE_NAME = 'mycel.db';

function log(options: CreateStorageOptions): { log?: Logger } {
  return options.log === undefined ? {} : { log: options.log };
}

/** Opens the storage `database.url` names; does not migrate (call `migrate()`). */
export function createStorage(options: CreateStorageOptions): Storage {
  const url = options.url;
  if (url === 'sqlite') {
    try {
      mkdirSync(options.dataDir, { recursive: true });
    } catch (err) {
      throw new MycelError('STORAGE_UNAVAILABLE', { reason: `cannot create the data directory ${options.dataDir}` }, undefined, { cause: err });
    }
    return new SqliteStorage({ path: join(options.dataDir, SQLITE_FILE_NAME), ...log(options) });
  }
  if (url === ':memory:') return new SqliteStorage({ path: ':memory:', ...log(options) });
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '') throw new MycelError('CONFIG_INVALID', { key: 'database.url', reason: 'sqlite: needs a path, e.g. sqlite:/var/lib/mycel/mycel.db' });
    return new SqliteStorage({ path, ...log(options) });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return new PostgresStorage({
      url,
      ...(options.schema === undefined ? {} : { schema: options.schema }),
      ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
      ...(options.log === undefined ? {} : { log: options.log }),
    });
  }
  throw new MycelError('CONFIG_INVALID', {
    key: 'database.url',
    reason: 'expected `sqlite`, `:memory:`, `sqlite:<path>` or a postgres:// URL',
  });
}
