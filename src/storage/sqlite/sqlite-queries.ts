import Database from 'better-sqlite3';
import type { Change, Channel, ClientNode, Link, NodeRecord, Post, Session } from '../../model/content.js';
import { MycelError } from '../../errors.js';
import { CHANGE, CHANNEL, CLIENT_NODE, LINK, NODE, POST, SESSION, STREAM_EVENT, STREAM_TOP, FREEZE_STREAM_EVENTS, type StreamEventRow } from '../rows.js';
import type { ChangeHead, KeysetPosition, StreamEvent } from '../storage.js';

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

  getNode: `SELECT ${NODE.columns} FROM node`,
  insertNode: `INSERT INTO node (${NODE.columns}) VALUES (?, ?, ?, ?)`,
  setOwnerPasswordHash: 'UPDATE node SET owner_password_hash = ?',

  getChannel: `SELECT ${CHANNEL.columns} FROM channels WHERE id = ?`,
  getChannelByName: `SELECT ${CHANNEL.columns} FROM channels WHERE name = ?`,
  listChannels: `SELECT ${CHANNEL.columns} FROM channels ORDER BY created_at, id LIMIT ?`,
  listChannelsAfter: `SELECT ${CHANNEL.columns} FROM channels WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?`,
  insertChannel: `INSERT INTO channels (${CHANNEL.columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  // name and namespace never change: leaving them out spares the unique index a rewrite per post.
  updateChannel: 'UPDATE channels SET description = ?, updated_at = ?, last_seq = ? WHERE id = ?',
  deleteChannel: 'DELETE FROM channels WHERE id = ?',

  getPost: `SELECT ${POST.columns} FROM posts WHERE id = ?`,
  listPostsAsc: `SELECT ${POST.columns} FROM posts WHERE channel_id = ? AND seq > ? AND seq < ? ORDER BY seq LIMIT ?`,
  listPostsDesc: `SELECT ${POST.columns} FROM posts WHERE channel_id = ? AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
  insertPost: `INSERT INTO posts (${POST.columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  getPostByIdempotencyKey: `SELECT ${POST.columns} FROM posts WHERE id = (SELECT post_id FROM post_idempotency_keys WHERE channel_id = ? AND key = ?)`,
  insertIdempotencyKey: 'INSERT INTO post_idempotency_keys (channel_id, key, post_id) VALUES (?, ?, ?)',
  updatePost: 'UPDATE posts SET body = ?, meta = ?, blob_refs = ?, updated_at = ?, edited = ?, deleted = ? WHERE id = ?',

  getStreamTop: `SELECT ${STREAM_TOP('?')} AS n`,
  listStreamEventsAsc: `SELECT ${STREAM_EVENT.columns} FROM stream_events e JOIN posts p ON p.id = e.post_id WHERE e.channel_id = ? AND e.stream_offset > ? AND e.stream_offset < ? ORDER BY e.stream_offset LIMIT ?`,
  listStreamEventsDesc: `SELECT ${STREAM_EVENT.columns} FROM stream_events e JOIN posts p ON p.id = e.post_id WHERE e.channel_id = ? AND e.stream_offset > ? AND e.stream_offset < ? ORDER BY e.stream_offset DESC LIMIT ?`,
  getPostStreamOffset: 'SELECT MIN(stream_offset) AS n FROM stream_events WHERE post_id = ?',
  appendStreamEvent: `INSERT INTO stream_events (${STREAM_EVENT.insertColumns}) VALUES (?, ${STREAM_TOP('?')} + 1, ?, ?, ?, ?, ?) RETURNING stream_offset`,
  freezeStreamEvents: FREEZE_STREAM_EVENTS('?'),

  getLink: `SELECT ${LINK.columns} FROM links WHERE id = ?`,
  findLink: `SELECT ${LINK.columns} FROM links WHERE from_post_id = ? AND to_post_id = ? AND label = ?`,
  listLinks: `SELECT ${LINK.columns} FROM links WHERE from_post_id = ? OR to_post_id = ? ORDER BY created_at, id`,
  insertLink: `INSERT INTO links (${LINK.columns}) VALUES (?, ?, ?, ?, ?, ?)`,
  deleteLink: 'DELETE FROM links WHERE id = ?',

  // The digest's walks, by primary key. BINARY collation: byte order, as JavaScript compares ASCII.
  scanChannels: `SELECT ${CHANNEL.columns} FROM channels WHERE id > ? ORDER BY id LIMIT ?`,
  scanPosts: `SELECT ${POST.columns} FROM posts WHERE id > ? ORDER BY id LIMIT ?`,
  scanLinks: `SELECT ${LINK.columns} FROM links WHERE id > ? ORDER BY id LIMIT ?`,

  getChanges: `SELECT ${CHANGE.columns} FROM changes WHERE serial >= ? ORDER BY serial LIMIT ?`,
  readChangeHead: 'SELECT serial, hash FROM change_head WHERE id = 1',
  countChanges: 'SELECT COUNT(*) AS n FROM changes',
  insertChange: `INSERT INTO changes (${CHANGE.columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  writeChangeHead: 'UPDATE change_head SET serial = ?, hash = ? WHERE id = 1',

  getSession: `SELECT ${SESSION.columns} FROM sessions WHERE token_hash = ?`,
  insertSession: `INSERT INTO sessions (${SESSION.columns}) VALUES (?, ?, ?, ?, ?)`,
  deleteSession: 'DELETE FROM sessions WHERE token_hash = ?',
  deleteExpiredSessions: 'DELETE FROM sessions WHERE expires_at <= ?',
  deleteOwnerSessions: "DELETE FROM sessions WHERE subject_kind = 'owner'",
  deleteNodeSessions: "DELETE FROM sessions WHERE subject_kind = 'node' AND subject_id = ?",

  getClientNode: `SELECT ${CLIENT_NODE.columns} FROM client_nodes WHERE id = ?`,
  listClientNodes: `SELECT ${CLIENT_NODE.columns} FROM client_nodes ORDER BY created_at, id`,
  insertClientNode: `INSERT INTO client_nodes (${CLIENT_NODE.columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
  updateClientNode:
    'UPDATE client_nodes SET password_hash = ?, as_owner = ?, role = ?, write_access = ?, channels = ?, updated_at = ? WHERE id = ?',
  deleteClientNode: 'DELETE FROM client_nodes WHERE id = ?',

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

/** SQLite stores booleans as 0/1 (better-sqlite3 binds no booleans). */
const bindable = (v: unknown): unknown => (typeof v === 'boolean' ? (v ? 1 : 0) : v);

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

  /** The first row mapped by `read`, or null when there is none. */
  private one<R, T>(key: SqlKey, values: unknown[], read: (row: R) => T): T | null {
    const r = this.stmt(key).get(values) as R | undefined;
    return r === undefined ? null : read(r);
  }

  private all<R, T>(key: SqlKey, values: unknown[], read: (row: R) => T): T[] {
    return (this.stmt(key).all(values) as R[]).map(read);
  }

  /** Runs a write and returns how many rows it changed. */
  private write(key: SqlKey, values: unknown[]): number {
    return this.stmt(key).run(values.map(bindable)).changes;
  }

  // Reads.
  getNode(): NodeRecord | null {
    return this.one('getNode', [], NODE.read);
  }

  getChannel(id: string): Channel | null {
    return this.one('getChannel', [id], CHANNEL.read);
  }

  getChannelByName(name: string): Channel | null {
    return this.one('getChannelByName', [name], CHANNEL.read);
  }

  listChannels(after: KeysetPosition | undefined, limit: number): Channel[] {
    if (!(limit > 0)) return [];
    return after
      ? this.all('listChannelsAfter', [after.createdAt, after.id, limit], CHANNEL.read)
      : this.all('listChannels', [limit], CHANNEL.read);
  }

  getPost(id: string): Post | null {
    return this.one('getPost', [id], POST.read);
  }

  listPosts(channelId: string, o: { afterSeq?: number; beforeSeq?: number; limit: number; reverse?: boolean }): Post[] {
    if (!(o.limit > 0)) return [];
    const values = [channelId, o.afterSeq ?? 0, o.beforeSeq ?? NO_UPPER_BOUND, o.limit];
    return this.all(o.reverse ? 'listPostsDesc' : 'listPostsAsc', values, POST.read);
  }

  getPostByIdempotencyKey(channelId: string, key: string): Post | null {
    return this.one('getPostByIdempotencyKey', [channelId, key], POST.read);
  }

  getStreamTop(channelId: string): number {
    return (this.stmt('getStreamTop').get([channelId]) as { n: number }).n;
  }

  listStreamEvents(channelId: string, o: { afterOffset?: number; beforeOffset?: number; limit: number; reverse?: boolean }): StreamEvent[] {
    if (!(o.limit > 0)) return [];
    const values = [channelId, o.afterOffset ?? 0, o.beforeOffset ?? NO_UPPER_BOUND, o.limit];
    return this.all(o.reverse ? 'listStreamEventsDesc' : 'listStreamEventsAsc', values, (r: StreamEventRow) => STREAM_EVENT.read(r));
  }

  getPostStreamOffset(postId: string): number | null {
    return (this.stmt('getPostStreamOffset').get([postId]) as { n: number | null }).n;
  }

  getLink(id: string): Link | null {
    return this.one('getLink', [id], LINK.read);
  }

  findLink(fromPostId: string, toPostId: string, label: string): Link | null {
    return this.one('findLink', [fromPostId, toPostId, label], LINK.read);
  }

  listLinks(postId: string): Link[] {
    return this.all('listLinks', [postId, postId], LINK.read);
  }

  // '' sorts before every id, so "after nothing" needs no statement of its own.
  scanChannels(afterId: string | null, limit: number): Channel[] {
    return limit > 0 ? this.all('scanChannels', [afterId ?? '', limit], CHANNEL.read) : [];
  }

  scanPosts(afterId: string | null, limit: number): Post[] {
    return limit > 0 ? this.all('scanPosts', [afterId ?? '', limit], POST.read) : [];
  }

  scanLinks(afterId: string | null, limit: number): Link[] {
    return limit > 0 ? this.all('scanLinks', [afterId ?? '', limit], LINK.read) : [];
  }

  getChanges(fromSerial: number, limit: number): Change[] {
    if (!(limit > 0)) return [];
    return this.all('getChanges', [fromSerial, limit], CHANGE.read);
  }

  readChangeHead(): ChangeHead {
    const r = this.one('readChangeHead', [], (h: ChangeHead) => ({ serial: h.serial, hash: h.hash }));
    if (!r) throw new MycelError('INTERNAL', { reason: 'change_head row is missing; has the schema been migrated?' });
    return r;
  }

  /** BEGIN IMMEDIATE already holds the database's write lock, so reading the head is locking it. */
  lockChangeHead(): ChangeHead {
    return this.readChangeHead();
  }

  countChanges(): number {
    return (this.stmt('countChanges').get() as { n: number }).n;
  }

  getSession(tokenHash: string): Session | null {
    return this.one('getSession', [tokenHash], SESSION.read);
  }

  getClientNode(id: string): ClientNode | null {
    return this.one('getClientNode', [id], CLIENT_NODE.read);
  }

  listClientNodes(): ClientNode[] {
    return this.all('listClientNodes', [], CLIENT_NODE.read);
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
    this.write('insertNode', NODE.values(n));
  }

  setOwnerPasswordHash(hash: string): void {
    if (this.write('setOwnerPasswordHash', [hash]) === 0) throw new MycelError('NODE_NOT_INITIALIZED');
  }

  insertChannel(c: Channel): void {
    this.write('insertChannel', CHANNEL.values(c));
  }

  updateChannel(c: Channel): void {
    if (this.write('updateChannel', CHANNEL.updateValues(c)) === 0) throw new MycelError('CHANNEL_NOT_FOUND', { channelId: c.id });
  }

  deleteChannel(id: string): void {
    if (this.write('deleteChannel', [id]) === 0) throw new MycelError('CHANNEL_NOT_FOUND', { channelId: id });
  }

  insertPost(p: Post): void {
    this.write('insertPost', POST.values(p));
  }

  updatePost(p: Post): void {
    this.write('freezeStreamEvents', [p.id, p.id]);
    if (this.write('updatePost', POST.updateValues(p)) === 0) throw new MycelError('POST_NOT_FOUND', { postId: p.id });
  }

  insertIdempotencyKey(channelId: string, key: string, postId: string): void {
    this.write('insertIdempotencyKey', [channelId, key, postId]);
  }

  appendStreamEvent(p: Post, publisher: unknown): number {
    const values = [p.channelId, p.channelId, ...STREAM_EVENT.values(p, publisher)];
    return (this.stmt('appendStreamEvent').get(values.map(bindable)) as { stream_offset: number }).stream_offset;
  }

  insertLink(l: Link): void {
    this.write('insertLink', LINK.values(l));
  }

  deleteLink(id: string): void {
    if (this.write('deleteLink', [id]) === 0) throw new MycelError('LINK_NOT_FOUND', { linkId: id });
  }

  /** Inserts a change row; the caller has checked it follows the head it holds locked. */
  insertChange(c: Change): void {
    this.write('insertChange', CHANGE.values(c));
  }

  writeChangeHead(head: ChangeHead): void {
    this.write('writeChangeHead', [head.serial, head.hash]);
  }

  insertSession(s: Session): void {
    this.write('insertSession', SESSION.values(s));
  }

  deleteSession(tokenHash: string): void {
    this.write('deleteSession', [tokenHash]);
  }

  deleteExpiredSessions(now: number): number {
    return this.write('deleteExpiredSessions', [now]);
  }

  deleteOwnerSessions(): number {
    return this.write('deleteOwnerSessions', []);
  }

  deleteNodeSessions(nodeId: string): number {
    return this.write('deleteNodeSessions', [nodeId]);
  }

  insertClientNode(n: ClientNode): boolean {
    return this.write('insertClientNode', CLIENT_NODE.values(n)) === 1;
  }

  updateClientNode(n: ClientNode): void {
    if (this.write('updateClientNode', CLIENT_NODE.updateValues(n)) === 0) throw new MycelError('NODE_NOT_FOUND', { nodeId: n.id });
  }

  deleteClientNode(id: string): void {
    if (this.write('deleteClientNode', [id]) === 0) throw new MycelError('NODE_NOT_FOUND', { nodeId: id });
  }

  recordMigration(version: number, name: string, appliedAt: number): void {
    this.write('recordMigration', [version, name, appliedAt]);
  }
}
