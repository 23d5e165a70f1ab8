import Database from 'better-sqlite3';
import type { Change, Channel, ClientNode, Link, NodeRecord, Post, Session } from '../../domain/types.js';
import { MycelError } from '../../errors.js';
import {
  CHANGE_COLUMNS,
  CHANNEL_COLUMNS,
  CLIENT_NODE_COLUMNS,
  LINK_COLUMNS,
  NODE_COLUMNS,
  POST_COLUMNS,
  SESSION_COLUMNS,
  toChange,
  toChannel,
  toClientNode,
  toLink,
  toNode,
  toPost,
  toSession,
  type ChangeRow,
  type ChannelRow,
  type ClientNodeRow,
  type LinkRow,
  type NodeRow,
  type PostRow,
  type SessionRow,
} from '../rows.js';
import type { ChangeHead, KeysetPosition } from '../storage.js';

/*
 * Every statement as a module constant: the statement cache is keyed by these strings, and a
 * constant string keeps its hash, so a lookup on the hot path costs next to nothing.
 */
const SQL = {
  begin: 'BEGIN IMMEDIATE',
  commit: 'COMMIT',
  rollback: 'ROLLBACK',
  savepoint: 'SAVEPOINT work',
  release: 'RELEASE work',
  rollbackTo: 'ROLLBACK TO work',

  getNode: `SELECT ${NODE_COLUMNS} FROM node`,
  insertNode: `INSERT INTO node (${NODE_COLUMNS}) VALUES (?, ?, ?, ?)`,
  setOwnerPasswordHash: 'UPDATE node SET owner_password_hash = ?',

  getChannel: `SELECT ${CHANNEL_COLUMNS} FROM channels WHERE id = ?`,
  getChannelByName: `SELECT ${CHANNEL_COLUMNS} FROM channels WHERE name = ?`,
  listChannels: `SELECT ${CHANNEL_COLUMNS} FROM channels ORDER BY created_at, id LIMIT ?`,
  listChannelsAfter: `SELECT ${CHANNEL_COLUMNS} FROM channels WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?`,
  insertChannel: `INSERT INTO channels (${CHANNEL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  // name and namespace never change: leaving them out spares the unique index a rewrite per post.
  updateChannel: 'UPDATE channels SET description = ?, updated_at = ?, last_seq = ? WHERE id = ?',
  deleteChannel: 'DELETE FROM channels WHERE id = ?',

  getPost: `SELECT ${POST_COLUMNS} FROM posts WHERE id = ?`,
  listPostsAsc: `SELECT ${POST_COLUMNS} FROM posts WHERE channel_id = ? AND seq > ? AND seq < ? ORDER BY seq LIMIT ?`,
  listPostsDesc: `SELECT ${POST_COLUMNS} FROM posts WHERE channel_id = ? AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
  insertPost: `INSERT INTO posts (${POST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  updatePost: 'UPDATE posts SET body = ?, meta = ?, blob_refs = ?, updated_at = ?, edited = ?, deleted = ? WHERE id = ?',

  getLink: `SELECT ${LINK_COLUMNS} FROM links WHERE id = ?`,
  findLink: `SELECT ${LINK_COLUMNS} FROM links WHERE from_post_id = ? AND to_post_id = ? AND label = ?`,
  listLinks: `SELECT ${LINK_COLUMNS} FROM links WHERE from_post_id = ? OR to_post_id = ? ORDER BY created_at, id`,
  insertLink: `INSERT INTO links (${LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`,
  deleteLink: 'DELETE FROM links WHERE id = ?',

  getChanges: `SELECT ${CHANGE_COLUMNS} FROM changes WHERE serial >= ? ORDER BY serial LIMIT ?`,
  readChangeHead: 'SELECT serial, hash FROM change_head WHERE id = 1',
  countChanges: 'SELECT COUNT(*) AS n FROM changes',
  insertChange: `INSERT INTO changes (${CHANGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  writeChangeHead: 'UPDATE change_head SET serial = ?, hash = ? WHERE id = 1',

  getSession: `SELECT ${SESSION_COLUMNS} FROM sessions WHERE token_hash = ?`,
  insertSession: `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)`,
  deleteSession: 'DELETE FROM sessions WHERE token_hash = ?',
  deleteExpiredSessions: 'DELETE FROM sessions WHERE expires_at <= ?',

  getClientNode: `SELECT ${CLIENT_NODE_COLUMNS} FROM client_nodes WHERE id = ?`,
  insertClientNode: `INSERT INTO client_nodes (${CLIENT_NODE_COLUMNS}) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,

  hasMigrationsTable: "SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
  migrationVersions: 'SELECT version FROM schema_migrations ORDER BY version',
  recordMigration: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
} as const;

type SqlKey = keyof typeof SQL;

/** Largest seq bound used when the caller gives none. */
const NO_UPPER_BOUND = Number.MAX_SAFE_INTEGER;

/**
 * Turns a SQLite failure into a typed error. `constraint` maps a constraint failure the caller
 * can explain (a taken name, a missing parent) to its domain code; any other constraint failure
 * is a bug in the caller and becomes INTERNAL.
 */
export function toStorageError(err: unknown, constraint?: (code: string, message: string) => MycelError | undefined): unknown {
  if (!(err instanceof Database.SqliteError)) return err;
  const code = err.code;
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    return constraint?.(code, err.message) ?? new MycelError('INTERNAL', { constraint: err.message }, undefined, { cause: err });
  }
  if (
    code.startsWith('SQLITE_BUSY') ||
    code.startsWith('SQLITE_LOCKED') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_IOERR') ||
    code === 'SQLITE_FULL' ||
    code.startsWith('SQLITE_READONLY') ||
    code === 'SQLITE_NOTADB' ||
    code.startsWith('SQLITE_CORRUPT')
  ) {
    return new MycelError('STORAGE_UNAVAILABLE', { reason: code }, `The database cannot be used: ${err.message}`, { cause: err });
  }
  return err;
}

const bool = (b: boolean): number => (b ? 1 : 0);

/**
 * The statements of one SQLite connection, prepared once and cached. Synchronous like
 * better-sqlite3 itself; the storage decides on which connection and when they run.
 */
export class SqliteQueries {
  private readonly cache = new Map<SqlKey, Database.Statement>();

  constructor(readonly db: Database.Database) {}

  private stmt(key: SqlKey): Database.Statement {
    let s = this.cache.get(key);
    if (s === undefined) {
      s = this.db.prepare(SQL[key]);
      this.cache.set(key, s);
    }
    return s;
  }

  // Transaction control.
  begin(): void {
    this.stmt('begin').run();
  }
  commit(): void {
    this.stmt('commit').run();
  }
  rollback(): void {
    if (this.db.inTransaction) this.stmt('rollback').run();
  }
  savepoint(): void {
    this.stmt('savepoint').run();
  }
  release(): void {
    this.stmt('release').run();
  }
  rollbackToSavepoint(): void {
    // ROLLBACK TO keeps the savepoint open; RELEASE closes it so the next work starts clean.
    this.stmt('rollbackTo').run();
    this.stmt('release').run();
  }

  // Reads.
  getNode(): NodeRecord | null {
    const r = this.stmt('getNode').get() as NodeRow | undefined;
    return r ? toNode(r) : null;
  }

  getChannel(id: string): Channel | null {
    const r = this.stmt('getChannel').get(id) as ChannelRow | undefined;
    return r ? toChannel(r) : null;
  }

  getChannelByName(name: string): Channel | null {
    const r = this.stmt('getChannelByName').get(name) as ChannelRow | undefined;
    return r ? toChannel(r) : null;
  }

  listChannels(after: KeysetPosition | undefined, limit: number): Channel[] {
    if (!(limit > 0)) return [];
    const rows = (
      after ? this.stmt('listChannelsAfter').all(after.createdAt, after.id, limit) : this.stmt('listChannels').all(limit)
    ) as ChannelRow[];
    return rows.map(toChannel);
  }

  getPost(id: string): Post | null {
    const r = this.stmt('getPost').get(id) as PostRow | undefined;
    return r ? toPost(r) : null;
  }

  listPosts(channelId: string, o: { afterSeq?: number; beforeSeq?: number; limit: number; reverse?: boolean }): Post[] {
    if (!(o.limit > 0)) return [];
    const rows = this.stmt(o.reverse ? 'listPostsDesc' : 'listPostsAsc').all(
      channelId,
      o.afterSeq ?? 0,
      o.beforeSeq ?? NO_UPPER_BOUND,
      o.limit,
    ) as PostRow[];
    return rows.map(toPost);
  }

  getLink(id: string): Link | null {
    const r = this.stmt('getLink').get(id) as LinkRow | undefined;
    return r ? toLink(r) : null;
  }

  findLink(fromPostId: string, toPostId: string, label: string): Link | null {
    const r = this.stmt('findLink').get(fromPostId, toPostId, label) as LinkRow | undefined;
    return r ? toLink(r) : null;
  }

  listLinks(postId: string): Link[] {
    return (this.stmt('listLinks').all(postId, postId) as LinkRow[]).map(toLink);
  }

  getChanges(fromSerial: number, limit: number): Change[] {
    if (!(limit > 0)) return [];
    return (this.stmt('getChanges').all(fromSerial, limit) as ChangeRow[]).map(toChange);
  }

  readChangeHead(): ChangeHead {
    const r = this.stmt('readChangeHead').get() as ChangeHead | undefined;
    if (!r) throw new MycelError('INTERNAL', { reason: 'change_head row is missing; has the schema been migrated?' });
    return { serial: r.serial, hash: r.hash };
  }

  countChanges(): number {
    return (this.stmt('countChanges').get() as { n: number }).n;
  }

  getSession(tokenHash: string): Session | null {
    const r = this.stmt('getSession').get(tokenHash) as SessionRow | undefined;
    return r ? toSession(r) : null;
  }

  getClientNode(id: string): ClientNode | null {
    const r = this.stmt('getClientNode').get(id) as ClientNodeRow | undefined;
    return r ? toClientNode(r) : null;
  }

  /** Versions recorded in schema_migrations; empty before the first migration. */
  migrationVersions(): number[] {
    if (this.stmt('hasMigrationsTable').get() === undefined) return [];
    return (this.stmt('migrationVersions').all() as { version: number }[]).map((r) => r.version);
  }

  schemaVersion(): number {
    return this.migrationVersions().reduce((max, v) => Math.max(max, v), 0);
  }

  // Writes (only ever called on the write connection, inside BEGIN IMMEDIATE).
  insertNode(n: NodeRecord): void {
    this.stmt('insertNode').run(n.id, n.name, n.createdAt, n.ownerPasswordHash);
  }

  setOwnerPasswordHash(hash: string): void {
    if (this.stmt('setOwnerPasswordHash').run(hash).changes === 0) throw new MycelError('NODE_NOT_INITIALIZED');
  }

  insertChannel(c: Channel): void {
    this.stmt('insertChannel').run(c.id, c.name, c.namespace, c.description, c.originNodeId, c.createdAt, c.updatedAt, c.lastSeq);
  }

  updateChannel(c: Channel): void {
    const r = this.stmt('updateChannel').run(c.description, c.updatedAt, c.lastSeq, c.id);
    if (r.changes === 0) throw new MycelError('CHANNEL_NOT_FOUND', { channelId: c.id });
  }

  deleteChannel(id: string): void {
    if (this.stmt('deleteChannel').run(id).changes === 0) throw new MycelError('CHANNEL_NOT_FOUND', { channelId: id });
  }

  insertPost(p: Post): void {
    this.stmt('insertPost').run(
      p.id,
      p.channelId,
      p.seq,
      p.author,
      p.body,
      JSON.stringify(p.meta),
      JSON.stringify(p.blobRefs),
      p.originNodeId,
      p.createdAt,
      p.updatedAt,
      bool(p.edited),
      bool(p.deleted),
    );
  }

  updatePost(p: Post): void {
    const r = this.stmt('updatePost').run(
      p.body,
      JSON.stringify(p.meta),
      JSON.stringify(p.blobRefs),
      p.updatedAt,
      bool(p.edited),
      bool(p.deleted),
      p.id,
    );
    if (r.changes === 0) throw new MycelError('POST_NOT_FOUND', { postId: p.id });
  }

  insertLink(l: Link): void {
    this.stmt('insertLink').run(l.id, l.fromPostId, l.toPostId, l.label, l.originNodeId, l.createdAt);
  }

  deleteLink(id: string): void {
    if (this.stmt('deleteLink').run(id).changes === 0) throw new MycelError('LINK_NOT_FOUND', { linkId: id });
  }

  /** Inserts a change row; the caller has checked it follows the head it holds locked. */
  insertChange(c: Change): void {
    this.stmt('insertChange').run(
      c.serial,
      c.originNodeId,
      c.originSerial,
      c.type,
      c.payloadVersion,
      JSON.stringify(c.payload),
      c.createdAt,
      c.prevHash,
      c.hash,
    );
  }

  writeChangeHead(head: ChangeHead): void {
    this.stmt('writeChangeHead').run(head.serial, head.hash);
  }

  insertSession(s: Session): void {
    this.stmt('insertSession').run(s.tokenHash, s.subjectKind, s.subjectId, s.createdAt, s.expiresAt);
  }

  deleteSession(tokenHash: string): void {
    this.stmt('deleteSession').run(tokenHash);
  }

  deleteExpiredSessions(now: number): number {
    return this.stmt('deleteExpiredSessions').run(now).changes;
  }

  insertClientNode(n: ClientNode): boolean {
    return this.stmt('insertClientNode').run(n.id, n.passwordHash, bool(n.asOwner), n.createdAt).changes === 1;
  }

  recordMigration(version: number, name: string, appliedAt: number): void {
    this.stmt('recordMigration').run(version, name, appliedAt);
  }
}
