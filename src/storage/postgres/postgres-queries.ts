import type pg from 'pg';
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

/** A pool (autocommit reads) or a checked-out client (inside a transaction). */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/*
 * Named statements: pg prepares each once per connection and then only binds values, which
 * saves the parse and plan on every call of the hot path.
 */
function q(name: string, text: string): { name: string; text: string } {
  return { name: `mycel_${name}`, text };
}

const SQL = {
  getNode: q('get_node', `SELECT ${NODE_COLUMNS} FROM node`),
  insertNode: q('insert_node', `INSERT INTO node (${NODE_COLUMNS}) VALUES ($1, $2, $3, $4)`),
  setOwnerPasswordHash: q('set_owner_password_hash', 'UPDATE node SET owner_password_hash = $1'),

  getChannel: q('get_channel', `SELECT ${CHANNEL_COLUMNS} FROM channels WHERE id = $1`),
  getChannelByName: q('get_channel_by_name', `SELECT ${CHANNEL_COLUMNS} FROM channels WHERE name = $1`),
  listChannels: q('list_channels', `SELECT ${CHANNEL_COLUMNS} FROM channels ORDER BY created_at, id LIMIT $1`),
  listChannelsAfter: q(
    'list_channels_after',
    `SELECT ${CHANNEL_COLUMNS} FROM channels WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3`,
  ),
  insertChannel: q('insert_channel', `INSERT INTO channels (${CHANNEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`),
  updateChannel: q(
    'update_channel',
    // name and namespace never change; leaving them out keeps the update HOT-eligible.
    'UPDATE channels SET description = $1, updated_at = $2, last_seq = $3 WHERE id = $4',
  ),
  deleteChannel: q('delete_channel', 'DELETE FROM channels WHERE id = $1'),

  getPost: q('get_post', `SELECT ${POST_COLUMNS} FROM posts WHERE id = $1`),
  listPostsAsc: q(
    'list_posts_asc',
    `SELECT ${POST_COLUMNS} FROM posts WHERE channel_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq LIMIT $4`,
  ),
  listPostsDesc: q(
    'list_posts_desc',
    `SELECT ${POST_COLUMNS} FROM posts WHERE channel_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq DESC LIMIT $4`,
  ),
  insertPost: q('insert_post', `INSERT INTO posts (${POST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`),
  updatePost: q(
    'update_post',
    'UPDATE posts SET body = $1, meta = $2, blob_refs = $3, updated_at = $4, edited = $5, deleted = $6 WHERE id = $7',
  ),

  getLink: q('get_link', `SELECT ${LINK_COLUMNS} FROM links WHERE id = $1`),
  findLink: q('find_link', `SELECT ${LINK_COLUMNS} FROM links WHERE from_post_id = $1 AND to_post_id = $2 AND label = $3`),
  listLinks: q('list_links', `SELECT ${LINK_COLUMNS} FROM links WHERE from_post_id = $1 OR to_post_id = $1 ORDER BY created_at, id`),
  insertLink: q('insert_link', `INSERT INTO links (${LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`),
  deleteLink: q('delete_link', 'DELETE FROM links WHERE id = $1'),

  getChanges: q('get_changes', `SELECT ${CHANGE_COLUMNS} FROM changes WHERE serial >= $1 ORDER BY serial LIMIT $2`),
  readChangeHead: q('read_change_head', 'SELECT serial, hash FROM change_head WHERE id = 1'),
  // The row lock serialises every appender across processes until its transaction ends.
  lockChangeHead: q('lock_change_head', 'SELECT serial, hash FROM change_head WHERE id = 1 FOR UPDATE'),
  countChanges: q('count_changes', 'SELECT COUNT(*) AS n FROM changes'),
  insertChange: q('insert_change', `INSERT INTO changes (${CHANGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`),
  writeChangeHead: q('write_change_head', 'UPDATE change_head SET serial = $1, hash = $2 WHERE id = 1'),

  getSession: q('get_session', `SELECT ${SESSION_COLUMNS} FROM sessions WHERE token_hash = $1`),
  insertSession: q('insert_session', `INSERT INTO sessions (${SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)`),
  deleteSession: q('delete_session', 'DELETE FROM sessions WHERE token_hash = $1'),
  deleteExpiredSessions: q('delete_expired_sessions', 'DELETE FROM sessions WHERE expires_at <= $1'),

  getClientNode: q('get_client_node', `SELECT ${CLIENT_NODE_COLUMNS} FROM client_nodes WHERE id = $1`),
  insertClientNode: q(
    'insert_client_node',
    `INSERT INTO client_nodes (${CLIENT_NODE_COLUMNS}) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
  ),
} as const;

// Plain (unnamed) statements: rare, and their tables may not exist yet.
const HAS_MIGRATIONS_TABLE = "SELECT to_regclass('schema_migrations') IS NOT NULL AS present";
const MIGRATION_VERSIONS = 'SELECT version FROM schema_migrations ORDER BY version';

const NO_UPPER_BOUND = Number.MAX_SAFE_INTEGER;

/** Node's own network error codes that mean the server cannot be reached. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
/** pg's own messages for a connection lost or never made (these carry no code). */
const CONNECTION_MESSAGE = /connection terminated|connection timeout|timeout exceeded when trying to connect|client has encountered a connection error|client was closed|not queryable/i;

/** Whether `err` means the database is unreachable (the connection must not be reused). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    // 08: connection exception; 57P0x: server shutting down; 53300: too many connections;
    // 28: authentication; 3D000: no such database.
    if (code.startsWith('08') || code.startsWith('57P') || code === '53300' || code.startsWith('28') || code === '3D000') return true;
  }
  return CONNECTION_MESSAGE.test(err.message);
}

export type ConstraintMapper = (sqlState: string, constraint: string) => MycelError | undefined;

/**
 * Turns a PostgreSQL failure into a typed error. `constraint` maps a constraint failure the
 * caller can explain (a taken name, a missing parent) to its domain code; any other constraint
 * failure is a bug in the caller and becomes INTERNAL.
 */
export function toStorageError(err: unknown, constraint?: ConstraintMapper): unknown {
  if (err instanceof MycelError || !(err instanceof Error)) return err;
  if (isConnectionError(err)) {
    return new MycelError('STORAGE_UNAVAILABLE', { reason: err.message }, undefined, { cause: err });
  }
  const e = err as Error & { code?: string; constraint?: string };
  if (typeof e.code === 'string' && e.code.startsWith('23')) {
    return constraint?.(e.code, e.constraint ?? '') ?? new MycelError('INTERNAL', { constraint: e.constraint ?? e.message }, undefined, { cause: err });
  }
  if (e.code === '25P02') {
    return new MycelError('INTERNAL', { reason: 'a statement failed earlier in this transaction, which can only be rolled back' }, undefined, { cause: err });
  }
  // Deadlock or serialisation failure: the transaction was rolled back and may be retried.
  if (e.code === '40P01' || e.code === '40001') {
    return new MycelError('STORAGE_UNAVAILABLE', { reason: err.message, retry: true }, undefined, { cause: err });
  }
  return err;
}

/** The statements of the storage, run on a pool or on one transaction's client. */
export class PostgresQueries {
  constructor(private readonly db: Queryable) {}

  private async rows<R>(stmt: { name: string; text: string }, values: unknown[]): Promise<R[]> {
    const res = await this.db.query({ ...stmt, values });
    return res.rows as R[];
  }

  private async one<R>(stmt: { name: string; text: string }, values: unknown[]): Promise<R | undefined> {
    return (await this.rows<R>(stmt, values))[0];
  }

  private async count(stmt: { name: string; text: string }, values: unknown[]): Promise<number> {
    const res = await this.db.query({ ...stmt, values });
    return res.rowCount ?? 0;
  }

  async getNode(): Promise<NodeRecord | null> {
    const r = await this.one<NodeRow>(SQL.getNode, []);
    return r ? toNode(r) : null;
  }

  async getChannel(id: string): Promise<Channel | null> {
    const r = await this.one<ChannelRow>(SQL.getChannel, [id]);
    return r ? toChannel(r) : null;
  }

  async getChannelByName(name: string): Promise<Channel | null> {
    const r = await this.one<ChannelRow>(SQL.getChannelByName, [name]);
    return r ? toChannel(r) : null;
  }

  async listChannels(after: KeysetPosition | undefined, limit: number): Promise<Channel[]> {
    if (!(limit > 0)) return [];
    const rows = after
      ? await this.rows<ChannelRow>(SQL.listChannelsAfter, [after.createdAt, after.id, limit])
      : await this.rows<ChannelRow>(SQL.listChannels, [limit]);
    return rows.map(toChannel);
  }

  async getPost(id: string): Promise<Post | null> {
    const r = await this.one<PostRow>(SQL.getPost, [id]);
    return r ? toPost(r) : null;
  }

  async listPosts(channelId: string, o: { afterSeq?: number; beforeSeq?: number; limit: number; reverse?: boolean }): Promise<Post[]> {
    if (!(o.limit > 0)) return [];
    const rows = await this.rows<PostRow>(o.reverse ? SQL.listPostsDesc : SQL.listPostsAsc, [
      channelId,
      o.afterSeq ?? 0,
      o.beforeSeq ?? NO_UPPER_BOUND,
      o.limit,
    ]);
    return rows.map(toPost);
  }

  async getLink(id: string): Promise<Link | null> {
    const r = await this.one<LinkRow>(SQL.getLink, [id]);
    return r ? toLink(r) : null;
  }

  async findLink(fromPostId: string, toPostId: string, label: string): Promise<Link | null> {
    const r = await this.one<LinkRow>(SQL.findLink, [fromPostId, toPostId, label]);
    return r ? toLink(r) : null;
  }

  async listLinks(postId: string): Promise<Link[]> {
    return (await this.rows<LinkRow>(SQL.listLinks, [postId])).map(toLink);
  }

  async getChanges(fromSerial: number, limit: number): Promise<Change[]> {
    if (!(limit > 0)) return [];
    return (await this.rows<ChangeRow>(SQL.getChanges, [fromSerial, limit])).map(toChange);
  }

  private async head(stmt: { name: string; text: string }): Promise<ChangeHead> {
    const r = await this.one<ChangeHead>(stmt, []);
    if (!r) throw new MycelError('INTERNAL', { reason: 'change_head row is missing; has the schema been migrated?' });
    return { serial: r.serial, hash: r.hash };
  }

  readChangeHead(): Promise<ChangeHead> {
    return this.head(SQL.readChangeHead);
  }

  lockChangeHead(): Promise<ChangeHead> {
    return this.head(SQL.lockChangeHead);
  }

  async countChanges(): Promise<number> {
    return (await this.one<{ n: number }>(SQL.countChanges, []))!.n;
  }

  async getSession(tokenHash: string): Promise<Session | null> {
    const r = await this.one<SessionRow>(SQL.getSession, [tokenHash]);
    return r ? toSession(r) : null;
  }

  async getClientNode(id: string): Promise<ClientNode | null> {
    const r = await this.one<ClientNodeRow>(SQL.getClientNode, [id]);
    return r ? toClientNode(r) : null;
  }

  /** Versions recorded in schema_migrations; empty before the first migration. */
  async migrationVersions(): Promise<number[]> {
    const present = (await this.db.query(HAS_MIGRATIONS_TABLE)).rows[0] as { present: boolean };
    if (!present.present) return [];
    return ((await this.db.query(MIGRATION_VERSIONS)).rows as { version: number }[]).map((r) => r.version);
  }

  async schemaVersion(): Promise<number> {
    return (await this.migrationVersions()).reduce((max, v) => Math.max(max, v), 0);
  }

  async insertNode(n: NodeRecord): Promise<void> {
    await this.db.query({ ...SQL.insertNode, values: [n.id, n.name, n.createdAt, n.ownerPasswordHash] });
  }

  async setOwnerPasswordHash(hash: string): Promise<void> {
    if ((await this.count(SQL.setOwnerPasswordHash, [hash])) === 0) throw new MycelError('NODE_NOT_INITIALIZED');
  }

  async insertChannel(c: Channel): Promise<void> {
    await this.count(SQL.insertChannel, [c.id, c.name, c.namespace, c.description, c.originNodeId, c.createdAt, c.updatedAt, c.lastSeq]);
  }

  async updateChannel(c: Channel): Promise<void> {
    const n = await this.count(SQL.updateChannel, [c.description, c.updatedAt, c.lastSeq, c.id]);
    if (n === 0) throw new MycelError('CHANNEL_NOT_FOUND', { channelId: c.id });
  }

  async deleteChannel(id: string): Promise<void> {
    if ((await this.count(SQL.deleteChannel, [id])) === 0) throw new MycelError('CHANNEL_NOT_FOUND', { channelId: id });
  }

  async insertPost(p: Post): Promise<void> {
    await this.count(SQL.insertPost, [
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
      p.edited,
      p.deleted,
    ]);
  }

  async updatePost(p: Post): Promise<void> {
    const n = await this.count(SQL.updatePost, [
      p.body,
      JSON.stringify(p.meta),
      JSON.stringify(p.blobRefs),
      p.updatedAt,
      p.edited,
      p.deleted,
      p.id,
    ]);
    if (n === 0) throw new MycelError('POST_NOT_FOUND', { postId: p.id });
  }

  async insertLink(l: Link): Promise<void> {
    await this.count(SQL.insertLink, [l.id, l.fromPostId, l.toPostId, l.label, l.originNodeId, l.createdAt]);
  }

  async deleteLink(id: string): Promise<void> {
    if ((await this.count(SQL.deleteLink, [id])) === 0) throw new MycelError('LINK_NOT_FOUND', { linkId: id });
  }

  /** Inserts a change row; the caller has checked it follows the head it holds locked. */
  async insertChange(c: Change): Promise<void> {
    await this.count(SQL.insertChange, [
      c.serial,
      c.originNodeId,
      c.originSerial,
      c.type,
      c.payloadVersion,
      JSON.stringify(c.payload),
      c.createdAt,
      c.prevHash,
      c.hash,
    ]);
  }

  async writeChangeHead(head: ChangeHead): Promise<void> {
    await this.count(SQL.writeChangeHead, [head.serial, head.hash]);
  }

  async insertSession(s: Session): Promise<void> {
    await this.count(SQL.insertSession, [s.tokenHash, s.subjectKind, s.subjectId, s.createdAt, s.expiresAt]);
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.count(SQL.deleteSession, [tokenHash]);
  }

  deleteExpiredSessions(now: number): Promise<number> {
    return this.count(SQL.deleteExpiredSessions, [now]);
  }

  async insertClientNode(n: ClientNode): Promise<boolean> {
    return (await this.count(SQL.insertClientNode, [n.id, n.passwordHash, n.asOwner, n.createdAt])) === 1;
  }
}
