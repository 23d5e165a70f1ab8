import type pg from 'pg';
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

/** A pool (autocommit reads) or a checked-out client (inside a transaction). */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/*
 * Named statements: pg prepares each once per connection and then only binds values, which
 * saves the parse and plan on every call of the hot path.
 */
function q(name: string, text: string): { name: string; text: string } {
  return { name: `mycel_${name}`, text };
}

/** The NOTIFY channel of change-log commits; payloads name the schema, see writeChangeHeadNotify. */
export const LOG_CHANNEL = 'mycel_log';

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
  insertChannel: q('insert_channel', `INSERT INTO channels (${CHANNEL.columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`),
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
  // The head moves and the other instances hear of it on commit (NOTIFY is delivered then), in
  // one round trip. The payload: serial, the sender's id, the search path (the schema).
  writeChangeHeadNotify: q(
    'write_change_head_notify',
    `WITH moved AS (UPDATE change_head SET serial = $1, hash = $2 WHERE id = 1 RETURNING serial)
     SELECT pg_notify('${LOG_CHANNEL}', serial::text || ' ' || $3::text || ' ' || current_setting('search_path')) FROM moved`,
  ),
  hasOriginChange: q('has_origin_change', 'SELECT 1 AS present FROM changes WHERE origin_node_id = $1 AND origin_serial = $2'),
  heldOriginSerials: q('held_origin_serials', 'SELECT origin_serial AS s FROM changes WHERE origin_node_id = $1 AND origin_serial = ANY($2::bigint[])'),
  getPeerCursor: q('get_peer_cursor', `SELECT ${PEER_CURSOR.columns} FROM peer_cursors WHERE peer_node_id = $1`),
  setPeerCursor: q(
    'set_peer_cursor',
    'INSERT INTO peer_cursors (peer_node_id, serial, hash, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (peer_node_id) DO UPDATE SET serial = excluded.serial, hash = excluded.hash, updated_at = excluded.updated_at',
  ),
  listPeers: q('list_peers', `SELECT ${NETWORK_PEER.columns} FROM network_peers ORDER BY node_id`),
  upsertPeer: q(
    'upsert_peer',
    `INSERT INTO network_peers (${NETWORK_PEER.columns}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (node_id) DO UPDATE SET name = excluded.name, created_at = excluded.created_at, last_seen_at = excluded.last_seen_at`,
  ),
  listNetworkServers: q('list_network_servers', `SELECT ${NETWORK_SERVER.columns} FROM network_servers ORDER BY created_at, id`),
  insertNetworkServer: q('insert_network_server', `INSERT INTO network_servers (${NETWORK_SERVER.columns}) VALUES ($1, $2, $3, $4, $5, $6)`),
  deleteNetworkServer: q('delete_network_server', 'DELETE FROM network_servers WHERE id = $1'),
  getBlob: q('get_blob', `SELECT ${BLOB.columns} FROM blobs WHERE sha256 = $1`),
  getBlobBySha1: q('get_blob_by_sha1', `SELECT ${BLOB.columns} FROM blobs WHERE sha1 = $1`),
  listBlobs: q('list_blobs', `SELECT ${BLOB.columns} FROM blobs ORDER BY created_at, sha256 LIMIT $1`),
  listBlobsAfter: q('list_blobs_after', `SELECT ${BLOB.columns} FROM blobs WHERE (created_at, sha256) > ($1, $2) ORDER BY created_at, sha256 LIMIT $3`),
  listBlobReferrers: q(
    'list_blob_referrers',
    `SELECT ${POST.columns} FROM posts WHERE deleted = false AND id IN (SELECT post_id FROM post_blob_refs WHERE uri = $1 OR uri = $2) ORDER BY id LIMIT $3`,
  ),
  countBlobReferrers: q('count_blob_referrers', 'SELECT COUNT(*) AS n FROM post_blob_refs WHERE uri = $1 OR uri = $2'),
  getBlobPin: q('get_blob_pin', `SELECT ${BLOB_PIN.columns} FROM blob_pins WHERE sha256 = $1`),
  listUnreferencedBlobs: q(
    'list_unreferenced_blobs',
    `SELECT ${BLOB.columns} FROM blobs b WHERE b.created_at < $1 AND b.sha256 > $2
    AND NOT EXISTS (SELECT 1 FROM blob_pins p WHERE p.sha256 = b.sha256)
    AND NOT EXISTS (SELECT 1 FROM post_blob_refs r WHERE r.uri = 'sha256://' || b.sha256 OR r.uri = 'sha1://' || b.sha1)
    ORDER BY b.sha256 LIMIT $3`,
  ),
  insertBlob: q('insert_blob', `INSERT INTO blobs (${BLOB.columns}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sha256) DO NOTHING`),
  insertBlobPin: q('insert_blob_pin', `INSERT INTO blob_pins (${BLOB_PIN.columns}) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING`),
  deleteBlobPin: q('delete_blob_pin', 'DELETE FROM blob_pins WHERE sha256 = $1'),
  insertPostBlobRef: q('insert_post_blob_ref', 'INSERT INTO post_blob_refs (post_id, uri) VALUES ($1, $2) ON CONFLICT DO NOTHING'),
  deletePostBlobRefs: q('delete_post_blob_refs', 'DELETE FROM post_blob_refs WHERE post_id = $1'),

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
  // Federated compute. The claim skips rows another transaction holds (several instances share the queue).
  getComputeProject: q('get_compute_project', `SELECT ${COMPUTE_PROJECT.columns} FROM compute_projects WHERE id = $1`),
  getComputeProjectByName: q('get_compute_project_by_name', `SELECT ${COMPUTE_PROJECT.columns} FROM compute_projects WHERE origin_node_id = $1 AND name = $2`),
  getComputeProjectByTokenHash: q('get_compute_project_by_token_hash', `SELECT ${COMPUTE_PROJECT.columns} FROM compute_projects WHERE token_hash = $1`),
  getComputeProjectTokenHash: q('get_compute_project_token_hash', `SELECT token_hash FROM compute_projects WHERE id = $1`),
  listComputeProjects: q('list_compute_projects', `SELECT ${COMPUTE_PROJECT.columns} FROM compute_projects ORDER BY origin_node_id, name`),
  insertComputeProject: q('insert_compute_project', `INSERT INTO compute_projects (${COMPUTE_PROJECT.columns}, token_hash) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`),
  setComputeProjectTokenHash: q('set_compute_project_token_hash', `UPDATE compute_projects SET token_hash = $1 WHERE id = $2`),
  getComputeInvitationBySecretHash: q('get_compute_invitation_by_secret_hash', `SELECT ${COMPUTE_INVITATION.columns} FROM compute_invitations WHERE secret_hash = $1`),
  insertComputeInvitation: q('insert_compute_invitation', `INSERT INTO compute_invitations (${COMPUTE_INVITATION.columns}) VALUES ($1, $2, $3, $4, $5, $6, $7)`),
  useComputeInvitation: q('use_compute_invitation', `UPDATE compute_invitations SET used_at = $1, used_by = $2 WHERE id = $3 AND used_at IS NULL AND expires_at > $4`),
  getComputeClient: q('get_compute_client', `SELECT ${COMPUTE_CLIENT.columns} FROM compute_clients WHERE id = $1`),
  getComputeClientByPublicKey: q('get_compute_client_by_public_key', `SELECT ${COMPUTE_CLIENT.columns} FROM compute_clients WHERE public_key = $1`),
  listComputeClients: q('list_compute_clients', `SELECT ${COMPUTE_CLIENT.columns} FROM compute_clients ORDER BY joined_at, id`),
  insertComputeClient: q('insert_compute_client', `INSERT INTO compute_clients (${COMPUTE_CLIENT.columns}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`),
  touchComputeClient: q('touch_compute_client', `UPDATE compute_clients SET last_seen_at = $1 WHERE id = $2`),
  getComputeJob: q('get_compute_job', `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE id = $1`),
  getComputeJobByResultBlob: q('get_compute_job_by_result_blob', `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE result_blob_sha256 = $1 LIMIT 1`),
  listComputeJobs: q('list_compute_jobs', `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs ORDER BY created_at, id LIMIT $1`),
  listComputeJobsAfter: q('list_compute_jobs_after', `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE (created_at, id) > ($1, $2) ORDER BY created_at, id LIMIT $3`),
  listProjectComputeJobs: q('list_project_compute_jobs', `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE project_id = $1 ORDER BY created_at, id LIMIT $2`),
  listProjectComputeJobsAfter: q('list_project_compute_jobs_after', `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE project_id = $1 AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $4`),
  listComputeJobsWithStatus: q('list_compute_jobs_with_status', `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE status = $1 ORDER BY created_at, id LIMIT $2`),
  insertComputeJob: q('insert_compute_job', `INSERT INTO compute_jobs (${COMPUTE_JOB.columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (id) DO NOTHING`),
  updateComputeJob: q('update_compute_job', `UPDATE compute_jobs SET status = $1, round = $2, updated_at = $3, result = $4, result_blob_sha256 = $5, error = $6 WHERE id = $7`),
  getComputeTask: q('get_compute_task', `SELECT ${COMPUTE_TASK.columns} FROM compute_tasks WHERE id = $1`),
  listComputeTasks: q('list_compute_tasks', `SELECT ${COMPUTE_TASK.columns} FROM compute_tasks WHERE job_id = $1 ORDER BY round, created_at, id`),
  findLeasableComputeTask: q('find_leasable_compute_task', `SELECT ${COMPUTE_TASK.columns} FROM compute_tasks WHERE client_id = $1 AND (status = 'queued' OR (status = 'leased' AND lease_expires_at <= $2)) ORDER BY created_at, id LIMIT 1`),
  nextComputeLeaseExpiry: q('next_compute_lease_expiry', `SELECT MIN(lease_expires_at) AS n FROM compute_tasks WHERE client_id = $1 AND status = 'leased'`),
  insertComputeTask: q('insert_compute_task', `INSERT INTO compute_tasks (${COMPUTE_TASK.columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (id) DO NOTHING`),
  updateComputeTask: q('update_compute_task', `UPDATE compute_tasks SET status = $1, lease_id = $2, lease_expires_at = $3, attempts = $4, output = $5, error = $6, updated_at = $7 WHERE id = $8`),
  scanComputeProjects: q('scan_compute_projects', `SELECT ${COMPUTE_PROJECT.columns} FROM compute_projects WHERE id > $1 ORDER BY id LIMIT $2`),
  scanComputeClients: q('scan_compute_clients', `SELECT ${COMPUTE_CLIENT.columns} FROM compute_clients WHERE id > $1 ORDER BY id LIMIT $2`),
  scanComputeJobs: q('scan_compute_jobs', `SELECT ${COMPUTE_JOB.columns} FROM compute_jobs WHERE id > $1 ORDER BY id LIMIT $2`),
  scanComputeTasks: q('scan_compute_tasks', `SELECT ${COMPUTE_TASK.columns} FROM compute_tasks WHERE id > $1 ORDER BY id LIMIT $2`),
  claimComputeTask: q('claim_compute_task', `SELECT ${COMPUTE_TASK.columns} FROM compute_tasks WHERE client_id = $1 AND (status = 'queued' OR (status = 'leased' AND lease_expires_at <= $2)) ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`),
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

  async hasOriginChange(originNodeId: string, originSerial: number): Promise<boolean> {
    return (await this.rows(SQL.hasOriginChange, [originNodeId, originSerial])).length > 0;
  }

  async heldOriginSerials(originNodeId: string, originSerials: readonly number[]): Promise<Set<number>> {
    if (originSerials.length === 0) return new Set();
    const rows = await this.rows<{ s: number | string }>(SQL.heldOriginSerials, [originNodeId, originSerials]);
    return new Set(rows.map((r) => Number(r.s)));
  }

  getPeerCursor(peerNodeId: string): Promise<PeerCursor | null> {
    return this.one(SQL.getPeerCursor, [peerNodeId], PEER_CURSOR.read);
  }

  listPeers(): Promise<NetworkPeer[]> {
    return this.all(SQL.listPeers, [], NETWORK_PEER.read);
  }

  listNetworkServers(): Promise<NetworkServerRecord[]> {
    return this.all(SQL.listNetworkServers, [], NETWORK_SERVER.read);
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
    for (const uri of postBlobUris(p)) await this.count(SQL.insertPostBlobRef, [p.id, uri]);
  }

  async updatePost(p: Post): Promise<void> {
    await this.count(SQL.freezeStreamEvents, [p.id]);
    if ((await this.count(SQL.updatePost, POST.updateValues(p))) === 0) throw new MycelError('POST_NOT_FOUND', { postId: p.id });
    await this.count(SQL.deletePostBlobRefs, [p.id]);
    for (const uri of postBlobUris(p)) await this.count(SQL.insertPostBlobRef, [p.id, uri]);
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

  /** writeChangeHead, and a notification to every listener on the database when it commits. */
  async writeChangeHeadAndNotify(head: ChangeHead, senderId: string): Promise<void> {
    await this.count(SQL.writeChangeHeadNotify, [head.serial, head.hash, senderId]);
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

  async setPeerCursor(c: PeerCursor, now: number): Promise<void> {
    await this.count(SQL.setPeerCursor, PEER_CURSOR.values(c, now));
  }

  async upsertPeer(p: { nodeId: string; name: string; createdAt: number }, now: number): Promise<void> {
    await this.count(SQL.upsertPeer, NETWORK_PEER.values({ ...p, firstSeenAt: now, lastSeenAt: now }));
  }

  getBlob(sha256: string): Promise<BlobRecord | null> {
    return this.one(SQL.getBlob, [sha256], BLOB.read);
  }

  getBlobBySha1(sha1: string): Promise<BlobRecord | null> {
    return this.one(SQL.getBlobBySha1, [sha1], BLOB.read);
  }

  async listBlobs(o: ListOptions): Promise<BlobRecord[]> {
    if (!(o.limit > 0)) return [];
    return o.after
      ? this.all(SQL.listBlobsAfter, [o.after.createdAt, o.after.id, o.limit], BLOB.read)
      : this.all(SQL.listBlobs, [o.limit], BLOB.read);
  }

  async listBlobReferrers(sha256Uri: string, sha1Uri: string, limit: number): Promise<Post[]> {
    if (!(limit > 0)) return [];
    return this.all(SQL.listBlobReferrers, [sha256Uri, sha1Uri, limit], POST.read);
  }

  async countBlobReferrers(sha256Uri: string, sha1Uri: string): Promise<number> {
    const rows = await this.rows<{ n: number }>(SQL.countBlobReferrers, [sha256Uri, sha1Uri]);
    return Number(rows[0]?.n ?? 0);
  }

  getBlobPin(sha256: string): Promise<BlobPin | null> {
    return this.one(SQL.getBlobPin, [sha256], BLOB_PIN.read);
  }

  async listUnreferencedBlobs(createdBefore: number, afterSha256: string | null, limit: number): Promise<BlobRecord[]> {
    if (!(limit > 0)) return [];
    return this.all(SQL.listUnreferencedBlobs, [createdBefore, afterSha256 ?? '', limit], BLOB.read);
  }

  async insertBlob(b: BlobRecord): Promise<boolean> {
    return (await this.count(SQL.insertBlob, BLOB.values(b))) === 1;
  }

  async insertBlobPin(p: BlobPin): Promise<boolean> {
    return (await this.count(SQL.insertBlobPin, BLOB_PIN.values(p))) === 1;
  }

  async deleteBlobPin(sha256: string): Promise<boolean> {
    return (await this.count(SQL.deleteBlobPin, [sha256])) === 1;
  }

  async insertNetworkServer(s: NetworkServerRecord): Promise<void> {
    await this.count(SQL.insertNetworkServer, NETWORK_SERVER.values(s));
  }

  async deleteNetworkServer(id: string): Promise<boolean> {
    return (await this.count(SQL.deleteNetworkServer, [id])) === 1;
  }

  // Federated compute.
  getComputeProject(id: string): Promise<ComputeProject | null> {
    return this.one(SQL.getComputeProject, [id], COMPUTE_PROJECT.read);
  }

  getComputeProjectByName(originNodeId: string, name: string): Promise<ComputeProject | null> {
    return this.one(SQL.getComputeProjectByName, [originNodeId, name], COMPUTE_PROJECT.read);
  }

  getComputeProjectByTokenHash(tokenHash: string): Promise<ComputeProject | null> {
    return this.one(SQL.getComputeProjectByTokenHash, [tokenHash], COMPUTE_PROJECT.read);
  }

  async getComputeProjectTokenHash(id: string): Promise<string | null> {
    return (await this.one(SQL.getComputeProjectTokenHash, [id], (r: { token_hash: string | null }) => r.token_hash)) ?? null;
  }

  listComputeProjects(): Promise<ComputeProject[]> {
    return this.all(SQL.listComputeProjects, [], COMPUTE_PROJECT.read);
  }

  async insertComputeProject(p: ComputeProject, tokenHash: string | null): Promise<boolean> {
    return await this.count(SQL.insertComputeProject, [...COMPUTE_PROJECT.values(p), tokenHash]) === 1;
  }

  async setComputeProjectTokenHash(id: string, tokenHash: string | null): Promise<void> {
    await this.count(SQL.setComputeProjectTokenHash, [tokenHash, id]);
  }

  getComputeInvitationBySecretHash(secretHash: string): Promise<ComputeInvitation | null> {
    return this.one(SQL.getComputeInvitationBySecretHash, [secretHash], COMPUTE_INVITATION.read);
  }

  async insertComputeInvitation(i: ComputeInvitation): Promise<void> {
    await this.count(SQL.insertComputeInvitation, COMPUTE_INVITATION.values(i));
  }

  async useComputeInvitation(id: string, clientId: string, now: number): Promise<boolean> {
    return await this.count(SQL.useComputeInvitation, [now, clientId, id, now]) === 1;
  }

  getComputeClient(id: string): Promise<ComputeClient | null> {
    return this.one(SQL.getComputeClient, [id], COMPUTE_CLIENT.read);
  }

  getComputeClientByPublicKey(publicKey: string): Promise<ComputeClient | null> {
    return this.one(SQL.getComputeClientByPublicKey, [publicKey], COMPUTE_CLIENT.read);
  }

  listComputeClients(): Promise<ComputeClient[]> {
    return this.all(SQL.listComputeClients, [], COMPUTE_CLIENT.read);
  }

  async insertComputeClient(c: ComputeClient): Promise<boolean> {
    return await this.count(SQL.insertComputeClient, COMPUTE_CLIENT.values(c)) === 1;
  }

  async touchComputeClient(id: string, now: number): Promise<void> {
    await this.count(SQL.touchComputeClient, [now, id]);
  }

  getComputeJob(id: string): Promise<ComputeJob | null> {
    return this.one(SQL.getComputeJob, [id], COMPUTE_JOB.read);
  }

  getComputeJobByResultBlob(sha256: string): Promise<ComputeJob | null> {
    return this.one(SQL.getComputeJobByResultBlob, [sha256], COMPUTE_JOB.read);
  }

  async listComputeJobs(projectId: string | null, o: ListOptions): Promise<ComputeJob[]> {
    if (!(o.limit > 0)) return [];
    if (projectId === null) {
      return o.after
        ? this.all(SQL.listComputeJobsAfter, [o.after.createdAt, o.after.id, o.limit], COMPUTE_JOB.read)
        : this.all(SQL.listComputeJobs, [o.limit], COMPUTE_JOB.read);
    }
    return o.after
      ? this.all(SQL.listProjectComputeJobsAfter, [projectId, o.after.createdAt, o.after.id, o.limit], COMPUTE_JOB.read)
      : this.all(SQL.listProjectComputeJobs, [projectId, o.limit], COMPUTE_JOB.read);
  }

  async listComputeJobsWithStatus(status: ComputeJobStatus, limit: number): Promise<ComputeJob[]> {
    if (!(limit > 0)) return [];
    return this.all(SQL.listComputeJobsWithStatus, [status, limit], COMPUTE_JOB.read);
  }

  async insertComputeJob(j: ComputeJob): Promise<boolean> {
    return await this.count(SQL.insertComputeJob, COMPUTE_JOB.values(j)) === 1;
  }

  async updateComputeJob(j: ComputeJob): Promise<void> {
    if ((await this.count(SQL.updateComputeJob, COMPUTE_JOB.updateValues(j)))=== 0) throw new MycelError('INTERNAL', { reason: `no compute job ${j.id} to update` });
  }

  getComputeTask(id: string): Promise<ComputeTask | null> {
    return this.one(SQL.getComputeTask, [id], COMPUTE_TASK.read);
  }

  listComputeTasks(jobId: string): Promise<ComputeTask[]> {
    return this.all(SQL.listComputeTasks, [jobId], COMPUTE_TASK.read);
  }

  findLeasableComputeTask(clientId: string, now: number): Promise<ComputeTask | null> {
    return this.one(SQL.findLeasableComputeTask, [clientId, now], COMPUTE_TASK.read);
  }

  claimComputeTask(clientId: string, now: number): Promise<ComputeTask | null> {
    return this.one(SQL.claimComputeTask, [clientId, now], COMPUTE_TASK.read);
  }

  async nextComputeLeaseExpiry(clientId: string): Promise<number | null> {
    const n = (await this.rows<{ n: number | string | null }>(SQL.nextComputeLeaseExpiry, [clientId]))[0]?.n ?? null;
    return n === null ? null : Number(n);
  }

  async insertComputeTask(t: ComputeTask): Promise<boolean> {
    return await this.count(SQL.insertComputeTask, COMPUTE_TASK.values(t)) === 1;
  }

  async updateComputeTask(t: ComputeTask): Promise<void> {
    if ((await this.count(SQL.updateComputeTask, COMPUTE_TASK.updateValues(t)))=== 0) throw new MycelError('INTERNAL', { reason: `no compute task ${t.id} to update` });
  }

  scanComputeProjects(afterId: string | null, limit: number): Promise<ComputeProject[]> {
    return this.all(SQL.scanComputeProjects, [afterId ?? '', limit], COMPUTE_PROJECT.read);
  }

  scanComputeClients(afterId: string | null, limit: number): Promise<ComputeClient[]> {
    return this.all(SQL.scanComputeClients, [afterId ?? '', limit], COMPUTE_CLIENT.read);
  }

  scanComputeJobs(afterId: string | null, limit: number): Promise<ComputeJob[]> {
    return this.all(SQL.scanComputeJobs, [afterId ?? '', limit], COMPUTE_JOB.read);
  }

  scanComputeTasks(afterId: string | null, limit: number): Promise<ComputeTask[]> {
    return this.all(SQL.scanComputeTasks, [afterId ?? '', limit], COMPUTE_TASK.read);
  }
}
