import { closeSync, copyFileSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { MycelError } from '../../errors.js';
import { pendingMigrations } from '../migrations/index.js';
import { lockDataDir } from './data-dir-lock.js';

/**
 * Backup and restore of a node's SQLite database file (`mycel backup`, `mycel restore`).
 *
 * A backup is SQLite's online backup API on a connection of its own: it copies a consistent
 * snapshot page by page while the serving process keeps writing (a file copy of a live WAL
 * database can miss the WAL or catch a half-written page). It is written under a temporary
 * name, checked, then renamed, so the target name never holds a partial file.
 */

/** What a backup or restore reports. */
export interface SqliteBackupReport {
  file: string;
  bytes: number;
  schemaVersion: number;
}

/** Schema version of a database file, after checking it is sound and Mycel's. */
function checkMycelDatabase(file: string, what: string): number {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new MycelError('BACKUP_INVALID', { file, reason: `integrity check: ${String(integrity)}` }, `${what} is damaged: ${file}`);
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
    if (!hasTable) throw new MycelError('BACKUP_INVALID', { file, reason: 'no Mycel tables' }, `${what} is not a Mycel database: ${file}`);
    const versions = (db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version);
    const hasNode = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'node'").get() !== undefined && db.prepare('SELECT 1 FROM node').get() !== undefined;
    if (!hasNode) throw new MycelError('BACKUP_INVALID', { file, reason: 'no node row' }, `${what} holds no node: ${file}`);
    // An unknown (newer) version is SCHEMA_TOO_NEW, as at start-up.
    pendingMigrations(versions);
    return versions.reduce((max, v) => Math.max(max, v), 0);
  } catch (err) {
    if (err instanceof MycelError) throw err;
    throw new MycelError('BACKUP_INVALID', { file, reason: (err as Error).message }, `${what} cannot be read as an SQLite database: ${file}`);
  } finally {
    db?.close();
  }
}

function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes an online backup of the database at `source` to `target`; `force` replaces an existing file. */
export async function backupSqlite(source: string, target: string, options: { force?: boolean } = {}): Promise<SqliteBackupReport> {
  if (existsSync(target) && !options.force) throw new MycelError('BACKUP_TARGET_EXISTS', { file: target });
  const partial = join(dirname(target), `.${process.pid}.mycel-backup.partial`);
  rmSync(partial, { force: true });
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    await db.backup(partial);
  } catch (err) {
    rmSync(partial, { force: true });
    throw new MycelError('STORAGE_UNAVAILABLE', { reason: `backup to ${target} failed` }, undefined, { cause: err });
  } finally {
    db.close();
  }
  try {
    const schemaVersion = checkMycelDatabase(partial, 'the backup');
    fsyncFile(partial);
    renameSync(partial, target);
    return { file: target, bytes: statSync(target).size, schemaVersion };
  } finally {
    rmSync(partial, { force: true });
  }
}

/**
 * Replaces the database file `target` (in the SQLite data directory `dataDir`) by the backup
 * `source`, holding the data directory's lock so that no node serves it meanwhile
 * (DATA_DIR_LOCKED otherwise). `force` replaces an existing database.
 */
export function restoreSqlite(source: string, target: string, dataDir: string, options: { force?: boolean } = {}): SqliteBackupReport {
  if (!existsSync(source)) throw new MycelError('BACKUP_INVALID', { file: source, reason: 'no such file' }, `No backup at ${source}`);
  const schemaVersion = checkMycelDatabase(source, 'the backup');
  const lock = lockDataDir(dataDir);
  try {
    if (existsSync(target) && !options.force) throw new MycelError('BACKUP_TARGET_EXISTS', { file: target });
    const partial = join(dirname(target), `.${process.pid}.mycel-restore.partial`);
    try {
      copyFileSync(source, partial);
      fsyncFile(partial);
      // The old database's WAL and shared-memory files must go first: SQLite would replay an
      // old WAL into the restored file.
      rmSync(`${target}-wal`, { force: true });
      rmSync(`${target}-shm`, { force: true });
      renameSync(partial, target);
    } finally {
      rmSync(partial, { force: true });
    }
    return { file: target, bytes: statSync(target).size, schemaVersion };
  } finally {
    lock.release();
  }
}
