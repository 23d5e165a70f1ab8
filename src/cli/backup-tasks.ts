import { join, resolve } from 'node:path';
import type { Config } from '../config/index.js';
import { resolveDataDir } from '../config/index.js';
import { MycelError } from '../errors.js';
import { SQLITE_FILE_NAME } from '../storage/index.js';
import { assertNodeExists } from '../storage/node-presence.js';
import { backupSqlite, restoreSqlite, type SqliteBackupReport } from '../storage/sqlite/sqlite-backup.js';

/** The node's SQLite database file, or BACKUP_UNSUPPORTED for PostgreSQL and `:memory:`. */
function sqliteFile(config: Config): string {
  const url = config.database.url;
  if (url === 'sqlite') return join(resolveDataDir(config), SQLITE_FILE_NAME);
  if (url.startsWith('sqlite:') && url.length > 'sqlite:'.length) return resolve(url.slice('sqlite:'.length));
  const kind = url === ':memory:' ? 'an in-memory database' : 'PostgreSQL';
  throw new MycelError('BACKUP_UNSUPPORTED', { database: kind }, `mycel backup and restore handle SQLite; this node runs on ${kind}`);
}

function report(verb: string, r: SqliteBackupReport, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else process.stdout.write(`${verb} ${r.file} (${r.bytes} bytes, schema version ${r.schemaVersion})\n`);
}

/** `mycel backup FILE`: an online backup of the node's SQLite database, beside a serving node. */
export async function runBackup(config: Config, file: string, options: { force?: boolean; json?: boolean }): Promise<void> {
  const source = sqliteFile(config);
  await assertNodeExists({ url: config.database.url, dataDir: resolveDataDir(config) });
  report('backed up to', await backupSqlite(source, resolve(file), { force: options.force === true }), options.json === true);
}

/** `mycel restore FILE`: replaces the node's SQLite database by a backup; the node must be stopped. */
export function runRestore(config: Config, file: string, options: { force?: boolean; json?: boolean }): void {
  const target = sqliteFile(config);
  report('restored', restoreSqlite(resolve(file), target, resolveDataDir(config), { force: options.force === true }), options.json === true);
}
