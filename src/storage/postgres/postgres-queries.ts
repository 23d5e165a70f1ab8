import type pg from 'pg';
import type { Change, Channel, ClientNode, Link, NodeRecord, Post, Session } from '../../model/content.js';
import { MycelError } from '../../errors.js';
import { CHANGE, CHANNEL, CLIENT_NODE, LINK, NODE, POST, SESSION, STREAM_EVENT, STREAM_TOP, FREEZE_STREAM_EVENTS, type StreamEventRow } from '../rows.js';
import type { ChangeHead, KeysetPosition, StreamEvent } from '../storage.js';

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
  getNode: q('get_node', `SELECT ${NODE.columns} FROM node`),
  insertNode: q('insert_node', `INSERT INTO node (${NODE.columns}) VALUES ($1, $2, $3, $4)`),
  setOwnerPasswordHash: q('set_owner_password_hash', 'UPDATE node SET owner_password_hash = $1'),

  getChannel: q('get_channel', `SELECT ${CHANNEL.columns} FROM channels WHERE id = $1`),
  getChannelByName: q('get_channel_by_name', `SELECT ${CHANNEL.columns} FROM channels WHERE name = $1`),
  listChannels: q('list_channels', `SELECT ${CHANNEL.columns} FROM channels ORDER BY created_at, id LIMIT $1`),
  listChannelsAfter: q(
    'list_channels_after',
    `SELECT ${CHANNEL.columns} FROM channels WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3`,
  ),
  insertChannel: q('insert_channel', `INSERT INTO channels (${CHANNEL.columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`),
  updateChannel: q(
    'update_channel',
    // name and namespace never change; leaving them out keeps the update HOT-eligible.
    'UPDATE channels SET description = $1, updated_at = $2, last_seq = $3 WHERE id = $4',
  ),
  deleteChannel: q('delete_channel', 'DELETE FROM channels WHERE id = $1'),

  getPost: q('get_post', `SELECT ${POST.columns} FROM posts WHERE id = $1`),
  listPostsAsc: q(
    'list_posts_asc',
    `SELECT ${POST.columns} FROM posts WHERE channel_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq LIMIT $4`,
  ),
  listPostsDesc: q(
    'list_posts_desc',
    `SELECT ${POST.columns} FROM posts WHERE channel_id = $1 AND seq > $2 AND seq < $3 ORDER BY seq DESC LIMIT $4`,
  ),
  insertPost: q('insert_post', `INSERT INTO posts (${POST.columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`),
  getPostByIdempotencyKey: q(
    'get_post_by_idempotency_key',
    `SELECT ${POST.columns} FROM posts WHERE id = (SELECT post_id FROM post_idempotency_keys WHERE channel_id = $1 AND key = $2)`,
  ),
  insertIdempotencyKey: q('insert_idempotency_key', 'INSERT INTO post_idempotency_keys (channel_id, key, post_id) VALUES ($1, $2, $3)'),
  updatePost: q(
    'update_post',
    'UPDATE posts SET body = $1, meta = $2, blob_refs = $3, updated_at = $4, edited = $5, deleted = $6 WHERE id = $7',
  ),

  getStreamTop: q('get_stream_top', `SELECT ${STREAM_TOP('$1')} AS n`),
  listStreamEventsAsc: q(
    'list_stream_events_asc',
    `SELECT ${STREAM_EVENT.columns} FROM stream_events e JOIN posts p ON p.id = e.post_id WHERE e.channel_id = $1 AND e.stream_offset > $2 AND e.stream_offset < $3 ORDER BY e.stream_offset LIMIT $4`,
  ),
  listStreamEventsDesc: q(
    'list_stream_events_desc',
    `SELECT ${STREAM_EVENT.columns} FROM stream_events e JOIN posts p ON p.id = e.post_id WHERE e.channel_id = $1 AND e.stream_offset > $2 AND e.stream_offset < $3 ORDER BY e.stream_offset DESC LIMIT $4`,
  ),
  getPostStreamOffset: q('get_post_stream_offset', 'SELECT MIN(stream_offset) AS n FROM stream_events WHERE post_id = $1'),
  appendStreamEvent: q(
    'append_stream_event',
    `INSERT INTO stream_events (${STREAM_EVENT.insertColumns}) VALUES ($1, ${STREAM_TOP('$1')} + 1, $2, $3, $4, $5, $6) RETURNING stream_offset`,
  ),
  freezeStreamEvents: q('freeze_stream_events', FREEZE_STREAM_EVENTS('$1')),

  getLink: q('get_link', `SELECT ${LINK.columns} FROM links WHERE id = $1`),
  findLink: q('find_link', `SELECT ${LINK.columns} FROM links WHERE from_post_id = $1 AND to_post_id = $2 AND label = $3`),
  listLinks: q('list_links', `SELECT ${LINK.columns} FROM links WHERE from_post_id = $1 OR to_post_id = $1 ORDER BY created_at, id`),
  insertLink: q('insert_link', `INSERT INTO links (${LINK.columns}) VALUES ($1, $2, $3, $4, $5, $6)`),
  deleteLink: q('delete_link', 'DELETE FROM links WHERE id = $1'),

  // The digest's walks, by primary key. Ids are UUIDs (lower-case hex and '-'), which every
  // collation orders as bytes; the digest checks the order it receives, so a database that
  // disagreed would fail loudly rather than hash in another order.
  scanChannels: q('scan_channels', `SELECT ${CHANNEL.columns} FROM channels WHERE id > $1 ORDER BY id LIMIT $2`),
  scanPosts: q('scan_posts', `SELECT ${POST.columns} FROM posts WHERE id > $1 ORDER BY id LIMIT $2`),
  scanLinks: q('scan_links', `SELECT ${LINK.columns} FROM links WHERE id > $1 ORDER BY id LIMIT $2`),

  getChanges: q('get_changes', `SELECT ${CHANGE.columns} FROM changes WHERE serial >= $1 ORDER BY serial LIMIT $2`),
  readChangeHead: q('read_change_head', 'SELECT serial, hash FROM change_head WHERE id = 1'),
  // The row lock serialises every appender across processes until its transaction ends.
  lockChangeHead: q('lock_change_head', 'SELECT serial, hash FROM change_head WHERE id = 1 FOR UPDATE'),
  countChanges: q('count_changes', 'SELECT COUNT(*) AS n FROM changes'),
  insertChange: q('insert_change', `INSERT INTO changes (${CHANGE.columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`),
  writeChangeHead: q('write_change_head', 'UPDATE change_head SET serial = $1, hash = $2 WHERE id = 1'),

  getSession: q('get_session', `SELECT ${SESSION.columns} FROM sessions WHERE token_hash = $1`),
  insertSession: q('insert_session', `INSERT INTO sessions (${SESSION.columns}) VALUES ($1, $2, $3, $4, $5)`),
  deleteSession: q('delete_session', 'DELETE FROM sessions WHERE token_hash = $1'),
  deleteExpiredSessions: q('delete_expired_sessions', 'DELETE FROM sessions WHERE expires_at <= $1'),
  deleteOwnerSessions: q('delete_owner_sessions', "DELETE FROM sessions WHERE subject_kind = 'owner'"),
  deleteNodeSessions: q('delete_node_sessions', "DELETE FROM sessions WHERE subject_kind = 'node' AND subject_id = $1"),

  getClientNode: q('get_client_node', `SELECT ${CLIENT_NODE.columns} FROM client_nodes WHERE id = $1`),
  insertClientNode: q(
    'insert_client_node',
    `INSERT INTO client_nodes (${CLIENT_NODE.columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
  ),
  listClientNodes: q('list_client_nodes', `SELECT ${CLIENT_NODE.columns} FROM client_nodes ORDER BY created_at, id`),
  updateClientNode: q(
    'update_client_node',
    'UPDATE client_nodes SET password_hash = $1, as_owner = $2, role = $3, write_access = $4, channels = $5, updated_at = $6 WHERE id = $7',
  ),
  deleteClientNode: q('delete_client_node', 'DELETE FROM client_nodes WHERE id = $1'),
} as const;

// Plain (unnamed) statements: rare, and their tables may not exist yet.
const HAS_MIGRATIONS_TABLE = "SELECT to_regclass('schema_migrations') IS NOT NULL AS present";
const MIGRATION_VERSIONS = 'SELECT version FROM schema_migrations ORDER BY version';

const NO_UPPER_BOUND = Number.MAX_SAFE_INTEGER;

/** Node's own network error codes that mean the server cannot be reached. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
/** pg's own messages for a connection lost or never made (these carry no code). */
const CONNECTION_MESSAGE = /connection terminated|connection timeout|timeout exceeded when trying to connect|client has encountered a connection error|client was closed|not queryable|does not support SSL connections/i;
/** Node's TLS errors while connecting with sslmode=require/verify-*: a certificate the client does not accept. */
const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/;

/** Whether `err` means the database is unreachable (the connection must not be reused). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || TLS_CODES.test(code)) return true;
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

  /** The first row mapped by `read`, or null when there is none. */
  private async one<R, T>(stmt: { name: string; text: string }, values: unknown[], read: (row: R) => T): Promise<T | null> {
    const r = (await this.rows<R>(stmt, values))[0];
    return r === undefined ? null : read(r);
  }

  private async all<R, T>(stmt: { name: string; text: string }, values: unknown[], read: (row: R) => T): Promise<T[]> {
    return (await this.rows<R>(stmt, values)).map(read);
  }

  private async count(stmt: { name: string; text: string }, values: unknown[]): Promise<number> {
    const res = await this.db.query({ ...stmt, values });
    return res.rowCount ?? 0;
  }

  getNode(): Promise<NodeRecord | null> {
    return this.one(SQL.getNode, [], NODE.read);
  }

  getChannel(id: string): Promise<Channel | null> {
    return this.one(SQL.getChannel, [id], CHANNEL.read);
  }

  getChannelByName(name: string): Promise<Channel | null> {
    return this.one(SQL.getChannelByName, [name], CHANNEL.read);
  }

  async listChannels(after: KeysetPosition | undefined, limit: number): Promise<Channel[]> {
    if (!(limit > 0)) return [];
    return after
      ? this.all(SQL.listChannelsAfter, [after.createdAt, after.id, limit], CHANNEL.read)
      : this.all(SQL.listChannels, [limit], CHANNEL.read);
  }

  getPost(id: string): Promise<Post | null> {
    return this.one(SQL.getPost, [id], POST.read);
  }

  async listPosts(channelId: string, o: { afterSeq?: number; beforeSeq?: number; limit: number; reverse?: boolean }): Promise<Post[]> {
    if (!(o.limit > 0)) return [];
    const values = [channelId, o.afterSeq ?? 0, o.beforeSeq ?? NO_UPPER_BOUND, o.limit];
    return this.all(o.reverse ? SQL.listPostsDesc : SQL.listPostsAsc, values, POST.read);
  }

  getPostByIdempotencyKey(channelId: string, key: string): Promise<Post | null> {
    return this.one(SQL.getPostByIdempotencyKey, [channelId, key], POST.read);
  }

  async getStreamTop(channelId: string): Promise<number> {
    return Number((await this.rows<{ n: number | string }>(SQL.getStreamTop, [channelId]))[0]!.n);
  }

  async listStreamEvents(channelId: string, o: { afterOffset?: number; beforeOffset?: number; limit: number; reverse?: boolean }): Promise<StreamEvent[]> {
    if (!(o.limit > 0)) return [];
    const values = [channelId, o.afterOffset ?? 0, o.beforeOffset ?? NO_UPPER_BOUND, o.limit];
    return this.all(o.reverse ? SQL.listStreamEventsDesc : SQL.listStreamEventsAsc, values, (r: StreamEventRow) => STREAM_EVENT.read(r));
  }

  async getPostStreamOffset(postId: string): Promise<number | null> {
    const n = (await this.rows<{ n: number | string | null }>(SQL.getPostStreamOffset, [postId]))[0]?.n ?? null;
    return n === null ? null : Number(n);
  }

  getLink(id: string): Promise<Link | null> {
    return this.one(SQL.getLink, [id], LINK.read);
  }

  findLink(fromPostId: string, toPostId: string, label: string): Promise<Link | null> {
    return this.one(SQL.findLink, [fromPostId, toPostId, label], LINK.read);
  }

  listLinks(postId: string): Promise<Link[]> {
    return this.all(SQL.listLinks, [postId], LINK.read);
  }

  // '' sorts before every id, so "after nothing" needs no statement of its own.
  async scanChannels(afterId: string | null, limit: number): Promise<Channel[]> {
    return limit > 0 ? this.all(SQL.scanChannels, [afterId ?? '', limit], CHANNEL.read) : [];
  }

  async scanPosts(afterId: string | null, limit: number): Promise<Post[]> {
    return limit > 0 ? this.all(SQL.scanPosts, [afterId ?? '', limit], POST.read) : [];
  }

  async scanLinks(afterId: string | null, limit: number): Promise<Link[]> {
    return limit > 0 ? this.all(SQL.scanLinks, [afterId ?? '', limit], LINK.read) : [];
  }

  async getChanges(fromSerial: number, limit: number): Promise<Change[]> {
    if (!(limit > 0)) return [];
    return this.all(SQL.getChanges, [fromSerial, limit], CHANGE.read);
  }

  private async head(stmt: { name: string; text: string }): Promise<ChangeHead> {
    const r = await this.one(stmt, [], (h: ChangeHead) => ({ serial: h.serial, hash: h.hash }));
    if (!r) throw new MycelError('INTERNAL', { reason: 'change_head row is missing; has the schema been migrated?' });
    return r;
  }

  readChangeHead(): Promise<ChangeHead> {
    return this.head(SQL.readChangeHead);
  }

  lockChangeHead(): Promise<ChangeHead> {
    return this.head(SQL.lockChangeHead);
  }

  async countChanges(): Promise<number> {
    return (await this.rows<{ n: number }>(SQL.countChanges, []))[0]!.n;
  }

  getSession(tokenHash: string): Promise<Session | null> {
    return this.one(SQL.getSession, [tokenHash], SESSION.read);
  }

  getClientNode(id: string): Promise<ClientNode | null> {
    return this.one(SQL.getClientNode, [id], CLIENT_NODE.read);
  }

  listClientNodes(): Promise<ClientNode[]> {
    return this.all(SQL.listClientNodes, [], CLIENT_NODE.read);
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
    await this.count(SQL.insertNode, NODE.values(n));
  }

  async setOwnerPasswordHash(hash: string): Promise<void> {
    if ((await this.count(SQL.setOwnerPasswordHash, [hash])) === 0) throw new MycelError('NODE_NOT_INITIALIZED');
  }

  async insertChannel(c: Channel): Promise<void> {
    await this.count(SQL.insertChannel, CHANNEL.values(c));
  }

  async updateChannel(c: Channel): Promise<void> {
    if ((await this.count(SQL.updateChannel, CHANNEL.updateValues(c))) === 0) throw new MycelError('CHANNEL_NOT_FOUND', { channelId: c.id });
  }

  async deleteChannel(id: string): Promise<void> {
    if ((await this.count(SQL.deleteChannel, [id])) === 0) throw new MycelError('CHANNEL_NOT_FOUND', { channelId: id });
  }

  async insertPost(p: Post): Promise<void> {
    await this.count(SQL.insertPost, POST.values(p));
  }

  async updatePost(p: Post): Promise<void> {
    await this.count(SQL.freezeStreamEvents, [p.id]);
    if ((await this.count(SQL.updatePost, POST.updateValues(p))) === 0) throw new MycelError('POST_NOT_FOUND', { postId: p.id });
  }

  async insertIdempotencyKey(channelId: string, key: string, postId: string): Promise<void> {
    await this.count(SQL.insertIdempotencyKey, [channelId, key, postId]);
  }

  async appendStreamEvent(p: Post, publisher: unknown): Promise<number> {
    const rows = await this.rows<{ stream_offset: number | string }>(SQL.appendStreamEvent, [p.channelId, ...STREAM_EVENT.values(p, publisher)]);
    return Number(rows[0]!.stream_offset);
  }

  async insertLink(l: Link): Promise<void> {
    await this.count(SQL.insertLink, LINK.values(l));
  }

  async deleteLink(id: string): Promise<void> {
    if ((await this.count(SQL.deleteLink, [id])) === 0) throw new MycelError('LINK_NOT_FOUND', { linkId: id });
  }

  /** Inserts a change row; the caller has checked it follows the head it holds locked. */
  async insertChange(c: Change): Promise<void> {
    await this.count(SQL.insertChange, CHANGE.values(c));
  }

  async writeChangeHead(head: ChangeHead): Promise<void> {
    await this.count(SQL.writeChangeHead, [head.serial, head.hash]);
  }

  async insertSession(s: Session): Promise<void> {
    await this.count(SQL.insertSession, SESSION.values(s));
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.count(SQL.deleteSession, [tokenHash]);
  }

  deleteExpiredSessions(now: number): Promise<number> {
    return this.count(SQL.deleteExpiredSessions, [now]);
  }

  deleteOwnerSessions(): Promise<number> {
    return this.count(SQL.deleteOwnerSessions, []);
  }

  deleteNodeSessions(nodeId: string): Promise<number> {
    return this.count(SQL.deleteNodeSessions, [nodeId]);
  }

  async insertClientNode(n: ClientNode): Promise<boolean> {
    return (await this.count(SQL.insertClientNode, CLIENT_NODE.values(n))) === 1;
  }

  async updateClientNode(n: ClientNode): Promise<void> {
    if ((await this.count(SQL.updateClientNode, CLIENT_NODE.updateValues(n))) === 0) throw new MycelError('NODE_NOT_FOUND', { nodeId: n.id });
  }

  async deleteClientNode(id: string): Promise<void> {
    if ((await this.count(SQL.deleteClientNode, [id])) === 0) throw new MycelError('NODE_NOT_FOUND', { nodeId: id });
  }
}
