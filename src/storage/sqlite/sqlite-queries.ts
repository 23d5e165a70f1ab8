import Database from 'better-sqlite3';
import type { BlobPin, BlobRecord, Change, Channel, ClientNode, Link, NodeRecord, Post, Session } from '../../model/content.js';
import { MycelError } from '../../errors.js';
import type { ComputeClient, ComputeInvitation, ComputeJob, ComputeJobStatus, ComputeProject, ComputeTask } from '../../model/compute.js';
import type { NetworkPeer, NetworkServerRecord, PeerCursor } from '../../model/network.js';
import {
  BLOB,
  BLOB_PIN,
  COMPUTE_CLIENT,
  COMPUTE_INVITATION,
  COMPUTE_JOB,
  COMPUTE_PROJECT,
  COMPUTE_TASK,
  postBlobUris,
  CHANGE,
  CHANNEL,
  CLIENT_NODE,
  LINK,
  NETWORK_PEER,
  NETWORK_SERVER,
  NODE,
  PEER_CURSOR,
  POST,
  SESSION,
  STREAM_EVENT,
  STREAM_TOP,
  FREEZE_STREAM_EVENTS,
  type StreamEventRow,
} from '../rows.js';
import type { ChangeHead, KeysetPosition, ListOptions, StreamEvent } from '../storage.js';

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
  insertChannel: `INSERT INTO channels (${CHANNEL.columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
  // The offset is read first, then inserted: half the cost of one INSERT … RETURNING here, and
  // the write connection holds the database's write lock, so nothing moves in between.
  insertStreamEvent: `INSERT INTO stream_events (${STREAM_EVENT.insertColumns}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
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

  hasOriginChange: 'SELECT 1 AS present FROM changes WHERE origin_node_id = ? AND origin_serial = ?',
  // The serials as one JSON array: one statement for any count (the unique index is probed per value).
  heldOriginSerials: 'SELECT origin_serial AS s FROM changes WHERE origin_node_id = ? AND origin_serial IN (SELECT value FROM json_each(?))',
  getPeerCursor: `SELECT ${PEER_CURSOR.columns} FROM peer_cursors WHERE peer_node_id = ?`,
  setPeerCursor:
    'INSERT INTO peer_cursors (peer_node_id, serial, hash, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (peer_node_id) DO UPDATE SET serial = excluded.serial, hash = excluded.hash, updated_at = excluded.updated_at',
  listPeers: `SELECT ${NETWORK_PEER.columns} FROM network_peers ORDER BY node_id`,
  upsertPeer: `INSERT INTO network_peers (${NETWORK_PEER.columns}) VALUES (?, ?, ?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET name = excluded.name, created_at = excluded.created_at, last_seen_at = excluded.last_seen_at`,
  listNetworkServers: `SELECT ${NETWORK_SERVER.columns} FROM network_servers ORDER BY created_at, id`,
  insertNetworkServer: `INSERT INTO network_servers (${NETWORK_SERVER.columns}) VALUES (?, ?, ?, ?, ?, ?)`,
  deleteNetworkServer: 'DELETE FROM network_servers WHERE id = ?',
  getBlob: `SELECT ${BLOB.columns} FROM blobs WHERE sha256 = ?`,
  getBlobBySha1: `SELECT ${BLOB.columns} FROM blobs WHERE sha1 = ?`,
  listBlobs: `SELECT ${BLOB.columns} FROM blobs ORDER BY created_at, sha256 LIMIT ?`,
  listBlobsAfter: `SELECT ${BLOB.columns} FROM blobs WHERE (created_at, sha256) > (?, ?) ORDER BY created_at, sha256 LIMIT ?`,
  listBlobReferrers: `SELECT ${POST.columns} FROM posts WHERE deleted = 0 AND id IN (SELECT post_id FROM post_blob_refs WHERE uri = ? OR uri = ?) ORDER BY id LIMIT ?`,
  countBlobReferrers: 'SELECT COUNT(*) AS n FROM post_blob_refs WHERE uri = ? OR uri = ?',
  getBlobPin: `SELECT ${BLOB_PIN.columns} FROM blob_pins WHERE sha256 = ?`,
  listUnreferencedBlobs: `SELECT ${BLOB.columns} FROM blobs b WHERE b.created_at < ? AND b.sha256 > ?
    AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.sha256 = b.sha256)
    AND NOT EXISTS (SELECT 1 FROM post_blob_refs r WHERE r.uri = 'sha256://' || b.sha256 OR r.uri = 'sha1://' || b.sha1)
    ORDER BY b.sha256 LIMIT ?`,
  insertBlob: `INSERT INTO blobs (${BLOB.columns}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
  insertBlobPin: `INSERT INTO blob_pins (${BLOB_PIN.columns}) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
  deleteBlobPin: 'DELETE FROM blob_pins WHERE sha256 = ?',
  insertPostBlobRef: 'INSERT INTO post_blob_refs (post_id, uri) VALUES (?, ?) ON CONFLICT DO NOTHING',
  deletePostBlobRefs: 'DELETE FROM post_blob_refs WHERE post_id = ?',

  // Federated compute. On SQLite the one write connection serialises every lease.
  getComputeProject: `SELECT ${COMPUTE_PROJECT.columns} FROM compute_projects WHERE id = ?`,
  getComputeProjectByName: `SELECT ${COMPUTE_PROJECT.columns} FROM compute_projects WHERE origin_node_id = ? AND name = ?`,
  getComputeProjectByTokenHash: `SELECT ${COMPUTE_PROJECT.columns} FROM compute_projects WHERE token_hash = ?`,
  getComputeProjectTokenHash: `SELECT token_hash FROM compute_projects WHERE id = ?`,
  listComputeProjects: `SELECT ${COMPUTE_PROJECT.columns} FROM compute_projects ORDER BY origin_node_id, name`,
  insertComputeProject: `INSERT INTO compute_projects (${COMPUTE_PROJECT.columns}, token_hash) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
  setComputeProjectTokenHash: `UPDATE compute_projects SET token_hash = ? WHERE id = ?`,
  getComputeInvitationBySecretHash: `SELECT ${COMPUTE_INVITATION.columns} FROM compute_invitations WHERE secret_hash = ?`,
  insertComputeInvitation: `INSERT INTO compute_invitations (${COMPUTE_INVITATION.columns}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  useComputeInvitation: `UPDATE compute_invitations SET used_at = ?, used_by = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?`,
  getComputeClient: `SELECT ${COMPUTE_CLIENT.columns} FROM compute_clients WHERE id = ?`,
  getComputeClientByPublicKey: `SELECT ${COMPUTE_CLIENT.columns} FROM compute_clients WHERE public_key = ?`,
  listComputeClients: `SELECT ${COMPUTE_CLIENT.columns} FROM compute_clients ORDER BY joined_at, id`,
  insertComputeClient: `INSERT INTO compute_clients (${COMPUTE_CLIENT.columns}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
  touchComputeClient: `UPDATE compute_clients SET last_seen_at = ? WHERE id = ?`,
  getComputeJob: `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE id = ?`,
  getComputeJobByResultBlob: `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE result_blob_sha256 = ? LIMIT 1`,
  listComputeJobs: `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs ORDER BY created_at, id LIMIT ?`,
  listComputeJobsAfter: `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?`,
  listProjectComputeJobs: `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE project_id = ? ORDER BY created_at, id LIMIT ?`,
  listProjectComputeJobsAfter: `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE project_id = ? AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?`,
  listComputeJobsWithStatus: `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE status = ? ORDER BY created_at, id LIMIT ?`,
  insertComputeJob: `INSERT INTO compute_jobs (${COMPUTE_JOB.columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
  updateComputeJob: `UPDATE compute_jobs SET status = ?, round = ?, updated_at = ?, result = ?, result_blob_sha256 = ?, error = ? WHERE id = ?`,
  getComputeTask: `SELECT ${COMPUTE_TASK.columns} FROM compute_tasks WHERE id = ?`,
  listComputeTasks: `SELECT ${COMPUTE_TASK.columns} FROM compute_tasks WHERE job_id = ? ORDER BY round, created_at, id`,
  findLeasableComputeTask: `SELECT ${COMPUTE_TASK.columns} FROM compute_tasks WHERE client_id = ? AND (status = 'queued' OR (status = 'leased' AND lease_expires_at <= ?)) ORDER BY created_at, id LIMIT 1`,
  nextComputeLeaseExpiry: `SELECT MIN(lease_expires_at) AS n FROM compute_tasks WHERE client_id = ? AND status = 'leased'`,
  insertComputeTask: `INSERT INTO compute_tasks (${COMPUTE_TASK.columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
  updateComputeTask: `UPDATE compute_tasks SET status = ?, lease_id = ?, lease_expires_at = ?, attempts = ?, output = ?, error = ?, updated_at = ? WHERE id = ?`,
  scanComputeProjects: `SELECT ${COMPUTE_PROJECT.columns} FROM compute_projects WHERE id > ? ORDER BY id LIMIT ?`,
  scanComputeClients: `SELECT ${COMPUTE_CLIENT.columns} FROM compute_clients WHERE id > ? ORDER BY id LIMIT ?`,
  scanComputeJobs: `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE id > ? ORDER BY id LIMIT ?`,
  scanComputeTasks: `SELECT ${COMPUTE_TASK.columns} FROM compute_tasks WHERE id > ? ORDER BY id LIMIT ?`,
  claimComputeTask: `SELECT ${COMPUTE_TASK.columns} FROM compute_tasks WHERE client_id = ? AND (status = 'queued' OR (status = 'leased' AND lease_expires_at <= ?)) ORDER BY created_at, id LIMIT 1`,
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

  hasOriginChange(originNodeId: string, originSerial: number): boolean {
    return this.stmt('hasOriginChange').get([originNodeId, originSerial]) !== undefined;
  }

  heldOriginSerials(originNodeId: string, originSerials: readonly number[]): Set<number> {
    if (originSerials.length === 0) return new Set();
    const rows = this.stmt('heldOriginSerials').all([originNodeId, JSON.stringify(originSerials)]) as { s: number }[];
    return new Set(rows.map((r) => r.s));
  }

  getPeerCursor(peerNodeId: string): PeerCursor | null {
    return this.one('getPeerCursor', [peerNodeId], PEER_CURSOR.read);
  }

  listPeers(): NetworkPeer[] {
    return this.all('listPeers', [], NETWORK_PEER.read);
  }

  listNetworkServers(): NetworkServerRecord[] {
    return this.all('listNetworkServers', [], NETWORK_SERVER.read);
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
    for (const uri of postBlobUris(p)) this.write('insertPostBlobRef', [p.id, uri]);
  }

  updatePost(p: Post): void {
    this.write('freezeStreamEvents', [p.id, p.id]);
    if (this.write('updatePost', POST.updateValues(p)) === 0) throw new MycelError('POST_NOT_FOUND', { postId: p.id });
    this.write('deletePostBlobRefs', [p.id]);
    for (const uri of postBlobUris(p)) this.write('insertPostBlobRef', [p.id, uri]);
  }

  insertIdempotencyKey(channelId: string, key: string, postId: string): void {
    this.write('insertIdempotencyKey', [channelId, key, postId]);
  }

  appendStreamEvent(p: Post, publisher: unknown): number {
    const offset = this.getStreamTop(p.channelId) + 1;
    this.write('insertStreamEvent', [p.channelId, offset, ...STREAM_EVENT.values(p, publisher)]);
    return offset;
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

  setPeerCursor(c: PeerCursor, now: number): void {
    this.write('setPeerCursor', PEER_CURSOR.values(c, now));
  }

  upsertPeer(p: { nodeId: string; name: string; createdAt: number }, now: number): void {
    this.write('upsertPeer', NETWORK_PEER.values({ ...p, firstSeenAt: now, lastSeenAt: now }));
  }

  getBlob(sha256: string): BlobRecord | null {
    return this.one('getBlob', [sha256], BLOB.read);
  }

  getBlobBySha1(sha1: string): BlobRecord | null {
    return this.one('getBlobBySha1', [sha1], BLOB.read);
  }

  listBlobs(o: ListOptions): BlobRecord[] {
    if (!(o.limit > 0)) return [];
    return o.after
      ? this.all('listBlobsAfter', [o.after.createdAt, o.after.id, o.limit], BLOB.read)
      : this.all('listBlobs', [o.limit], BLOB.read);
  }

  listBlobReferrers(sha256Uri: string, sha1Uri: string, limit: number): Post[] {
    if (!(limit > 0)) return [];
    return this.all('listBlobReferrers', [sha256Uri, sha1Uri, limit], POST.read);
  }

  countBlobReferrers(sha256Uri: string, sha1Uri: string): number {
    return (this.stmt('countBlobReferrers').get([sha256Uri, sha1Uri]) as { n: number }).n;
  }

  getBlobPin(sha256: string): BlobPin | null {
    return this.one('getBlobPin', [sha256], BLOB_PIN.read);
  }

  listUnreferencedBlobs(createdBefore: number, afterSha256: string | null, limit: number): BlobRecord[] {
    if (!(limit > 0)) return [];
    return this.all('listUnreferencedBlobs', [createdBefore, afterSha256 ?? '', limit], BLOB.read);
  }

  insertBlob(b: BlobRecord): boolean {
    return this.write('insertBlob', BLOB.values(b)) === 1;
  }

  insertBlobPin(p: BlobPin): boolean {
    return this.write('insertBlobPin', BLOB_PIN.values(p)) === 1;
  }

  deleteBlobPin(sha256: string): boolean {
    return this.write('deleteBlobPin', [sha256]) === 1;
  }

  insertNetworkServer(s: NetworkServerRecord): void {
    this.write('insertNetworkServer', NETWORK_SERVER.values(s));
  }

  deleteNetworkServer(id: string): boolean {
    return this.write('deleteNetworkServer', [id]) === 1;
  }

  recordMigration(version: number, name: string, appliedAt: number): void {
    this.write('recordMigration', [version, name, appliedAt]);
  }

  // Federated compute.
  getComputeProject(id: string): ComputeProject | null {
    return this.one('getComputeProject', [id], COMPUTE_PROJECT.read);
  }

  getComputeProjectByName(originNodeId: string, name: string): ComputeProject | null {
    return this.one('getComputeProjectByName', [originNodeId, name], COMPUTE_PROJECT.read);
  }

  getComputeProjectByTokenHash(tokenHash: string): ComputeProject | null {
    return this.one('getComputeProjectByTokenHash', [tokenHash], COMPUTE_PROJECT.read);
  }

  getComputeProjectTokenHash(id: string): string | null {
    return this.one('getComputeProjectTokenHash', [id], (r: { token_hash: string | null }) => r.token_hash) ?? null;
  }

  listComputeProjects(): ComputeProject[] {
    return this.all('listComputeProjects', [], COMPUTE_PROJECT.read);
  }

  insertComputeProject(p: ComputeProject, tokenHash: string | null): boolean {
    return this.write('insertComputeProject', [...COMPUTE_PROJECT.values(p), tokenHash]) === 1;
  }

  setComputeProjectTokenHash(id: string, tokenHash: string | null): void {
    this.write('setComputeProjectTokenHash', [tokenHash, id]);
  }

  getComputeInvitationBySecretHash(secretHash: string): ComputeInvitation | null {
    return this.one('getComputeInvitationBySecretHash', [secretHash], COMPUTE_INVITATION.read);
  }

  insertComputeInvitation(i: ComputeInvitation): void {
    this.write('insertComputeInvitation', COMPUTE_INVITATION.values(i));
  }

  useComputeInvitation(id: string, clientId: string, now: number): boolean {
    return this.write('useComputeInvitation', [now, clientId, id, now]) === 1;
  }

  getComputeClient(id: string): ComputeClient | null {
    return this.one('getComputeClient', [id], COMPUTE_CLIENT.read);
  }

  getComputeClientByPublicKey(publicKey: string): ComputeClient | null {
    return this.one('getComputeClientByPublicKey', [publicKey], COMPUTE_CLIENT.read);
  }

  listComputeClients(): ComputeClient[] {
    return this.all('listComputeClients', [], COMPUTE_CLIENT.read);
  }

  insertComputeClient(c: ComputeClient): boolean {
    return this.write('insertComputeClient', COMPUTE_CLIENT.values(c)) === 1;
  }

  touchComputeClient(id: string, now: number): void {
    this.write('touchComputeClient', [now, id]);
  }

  getComputeJob(id: string): ComputeJob | null {
    return this.one('getComputeJob', [id], COMPUTE_JOB.read);
  }

  getComputeJobByResultBlob(sha256: string): ComputeJob | null {
    return this.one('getComputeJobByResultBlob', [sha256], COMPUTE_JOB.read);
  }

  listComputeJobs(projectId: string | null, o: ListOptions): ComputeJob[] {
    if (!(o.limit > 0)) return [];
    if (projectId === null) {
      return o.after
        ? this.all('listComputeJobsAfter', [o.after.createdAt, o.after.id, o.limit], COMPUTE_JOB.read)
        : this.all('listComputeJobs', [o.limit], COMPUTE_JOB.read);
    }
    return o.after
      ? this.all('listProjectComputeJobsAfter', [projectId, o.after.createdAt, o.after.id, o.limit], COMPUTE_JOB.read)
      : this.all('listProjectComputeJobs', [projectId, o.limit], COMPUTE_JOB.read);
  }

  listComputeJobsWithStatus(status: ComputeJobStatus, limit: number): ComputeJob[] {
    if (!(limit > 0)) return [];
    return this.all('listComputeJobsWithStatus', [status, limit], COMPUTE_JOB.read);
  }

  insertComputeJob(j: ComputeJob): boolean {
    return this.write('insertComputeJob', COMPUTE_JOB.values(j)) === 1;
  }

  updateComputeJob(j: ComputeJob): void {
    if (this.write('updateComputeJob', COMPUTE_JOB.updateValues(j)) === 0) throw new MycelError('INTERNAL', { reason: `no compute job ${j.id} to update` });
  }

  getComputeTask(id: string): ComputeTask | null {
    return this.one('getComputeTask', [id], COMPUTE_TASK.read);
  }

  listComputeTasks(jobId: string): ComputeTask[] {
    return this.all('listComputeTasks', [jobId], COMPUTE_TASK.read);
  }

  findLeasableComputeTask(clientId: string, now: number): ComputeTask | null {
    return this.one('findLeasableComputeTask', [clientId, now], COMPUTE_TASK.read);
  }

  claimComputeTask(clientId: string, now: number): ComputeTask | null {
    return this.one('claimComputeTask', [clientId, now], COMPUTE_TASK.read);
  }

  nextComputeLeaseExpiry(clientId: string): number | null {
    return (this.stmt('nextComputeLeaseExpiry').get([clientId]) as { n: number | null }).n;
  }

  insertComputeTask(t: ComputeTask): boolean {
    return this.write('insertComputeTask', COMPUTE_TASK.values(t)) === 1;
  }

  updateComputeTask(t: ComputeTask): void {
    if (this.write('updateComputeTask', COMPUTE_TASK.updateValues(t)) === 0) throw new MycelError('INTERNAL', { reason: `no compute task ${t.id} to update` });
  }

  scanComputeProjects(afterId: string | null, limit: number): ComputeProject[] {
    return this.all('scanComputeProjects', [afterId ?? '', limit], COMPUTE_PROJECT.read);
  }

  scanComputeClients(afterId: string | null, limit: number): ComputeClient[] {
    return this.all('scanComputeClients', [afterId ?? '', limit], COMPUTE_CLIENT.read);
  }

  scanComputeJobs(afterId: string | null, limit: number): ComputeJob[] {
    return this.all('scanComputeJobs', [afterId ?? '', limit], COMPUTE_JOB.read);
  }

  scanComputeTasks(afterId: string | null, limit: number): ComputeTask[] {
    return this.all('scanComputeTasks', [afterId ?? '', limit], COMPUTE_TASK.read);
  }
}
