import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MycelError } from '../errors.js';
import { redactUrl } from '../config/redact.js';
import { createStorage, SQLITE_FILE_NAME, type CreateStorageOptions } from './index.js';

/**
 * Checks that a database already holds a node, creating nothing: no data directory, no
 * database file, no schema or table. Commands that read a node (`info`, `verify`, …) call it
 * first, so a misspelt `--data-dir` fails with NODE_NOT_INITIALIZED instead of quietly creating
 * a new, empty node that looks like lost data.
 */
export async function assertNodeExists(options: Pick<CreateStorageOptions, 'url' | 'dataDir'>): Promise<void> {
  const { url, dataDir } = options;
  const where = url === 'sqlite' ? { dataDir } : url === ':memory:' ? { database: url } : { database: redactUrl(url) };
  const missing = (reason: string): MycelError =>
    new MycelError('NODE_NOT_INITIALIZED', { ...where, reason }, `No node here yet (${url === 'sqlite' ? dataDir : where.database}): ${reason}`);

  if (url === ':memory:') throw missing('an in-memory database starts empty every time');
  if (url === 'sqlite' && !existsSync(join(dataDir, SQLITE_FILE_NAME))) {
    throw missing(existsSync(dataDir) ? `the directory has no ${SQLITE_FILE_NAME}` : 'the directory does not exist');
  }
  const storage = createStorage({ url, dataDir });
  try {
    // schemaVersion() reads 0 without creating the migrations table when it is absent.
    if ((await storage.schemaVersion()) === 0) throw missing('the database has no Mycel tables');
    if ((await storage.getNode()) === null) throw missing('the database has no node row');
  } finally {
    await storage.close();
  }
}
