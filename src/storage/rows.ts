import type { BlobPin, BlobRecord, Change, ChangeType, Channel, ClientNode, Link, NodeRecord, Post, Session } from '../model/content.js';
import type { NetworkPeer, NetworkServerRecord, PeerCursor } from '../model/network.js';
import type { ComputeClient, ComputeDatasourceBinding, ComputeInvitation, ComputeJob, ComputeJobStatus, ComputeProject, ComputeTask, ComputeTaskStatus } from '../model/compute.js';
import type { StreamEvent } from './storage.js';

/**
 * Rows as both databases return them (snake_case) and their mapping to the domain types.
 * SQLite stores booleans as 0/1 and PostgreSQL as booleans; integers arrive as JS numbers from
 * both (the PostgreSQL pool parses int8 as a number). JSON columns are text in both.
 */

type Flag = number | boolean;

export interface NodeRow {
  id: string;
  name: string;
  created_at: number;
  owner_password_hash: string | null;
}

export interface ChannelRow {
  id: string;
  name: string;
  namespace: string;
  description: string;
  origin_node_id: string;
  created_at: number;
  updated_at: number;
  last_seq: number;
  origin_name: string | null;
}

export interface PostRow {
  id: string;
  channel_id: string;
  seq: number;
  author: string;
  body: string;
  meta: string;
  blob_refs: string;
  origin_node_id: string;
  created_at: number;
  updated_at: number;
  edited: Flag;
  deleted: Flag;
}

export interface LinkRow {
  id: string;
  from_post_id: string;
  to_post_id: string;
  label: string;
  origin_node_id: string;
  created_at: number;
}

export interface ChangeRow {
  serial: number;
  origin_node_id: string;
  origin_serial: number;
  type: string;
  payload_version: number;
  payload: string;
  created_at: number;
  prev_hash: string;
  hash: string;
}

export interface SessionRow {
  token_hash: string;
  subject_kind: string;
  subject_id: string;
  created_at: number;
  expires_at: number;
}

export interface ClientNodeRow {
  id: string;
  password_hash: string;
  as_owner: Flag;
  role: string;
  write_access: string;
  channels: string;
  created_at: number;
  updated_at: number;
}

// Column lists in the order the insert statements of both dialects bind them (see Table.values).
const NODE_COLUMNS = 'id, name, created_at, owner_password_hash';
const CHANNEL_COLUMNS = 'id, name, namespace, description, origin_node_id, created_at, updated_at, last_seq, origin_name';
const POST_COLUMNS =
  'id, channel_id, seq, author, body, meta, blob_refs, origin_node_id, created_at, updated_at, edited, deleted';
const LINK_COLUMNS = 'id, from_post_id, to_post_id, label, origin_node_id, created_at';
const CHANGE_COLUMNS = 'serial, origin_node_id, origin_serial, type, payload_version, payload, created_at, prev_hash, hash';
const SESSION_COLUMNS = 'token_hash, subject_kind, subject_id, created_at, expires_at';
const CLIENT_NODE_COLUMNS = 'id, password_hash, as_owner, role, write_access, channels, created_at, updated_at';

function toNode(r: NodeRow): NodeRecord {
  return { id: r.id, name: r.name, createdAt: r.created_at, ownerPasswordHash: r.owner_password_hash };
}

function toChannel(r: ChannelRow): Channel {
  const c: Channel = {
    id: r.id,
    name: r.name,
    namespace: r.namespace,
    description: r.description,
    originNodeId: r.origin_node_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lastSeq: r.last_seq,
  };
  // Present only when it differs from the local name, so a channel reads back as it was written.
  if (r.origin_name !== null) c.originName = r.origin_name;
  return c;
}

function toPost(r: PostRow): Post {
  return {
    id: r.id,
    channelId: r.channel_id,
    seq: r.seq,
    author: r.author,
    body: r.body,
    meta: JSON.parse(r.meta) as Record<string, unknown>,
    blobRefs: JSON.parse(r.blob_refs) as string[],
    originNodeId: r.origin_node_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    edited: r.edited === true || r.edited === 1,
    deleted: r.deleted === true || r.deleted === 1,
  };
}

function toLink(r: LinkRow): Link {
  return {
    id: r.id,
    fromPostId: r.from_post_id,
    toPostId: r.to_post_id,
    label: r.label,
    originNodeId: r.origin_node_id,
    createdAt: r.created_at,
  };
}

function toChange(r: ChangeRow): Change {
  return {
    serial: r.serial,
    originNodeId: r.origin_node_id,
    originSerial: r.origin_serial,
    type: r.type as ChangeType,
    payloadVersion: r.payload_version,
    payload: JSON.parse(r.payload) as Record<string, unknown>,
    createdAt: r.created_at,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

function toSession(r: SessionRow): Session {
  return {
    tokenHash: r.token_hash,
    subjectKind: r.subject_kind as Session['subjectKind'],
    subjectId: r.subject_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

function toClientNode(r: ClientNodeRow): ClientNode {
  return {
    id: r.id,
    passwordHash: r.password_hash,
    asOwner: r.as_owner === true || r.as_owner === 1,
    role: r.role as ClientNode['role'],
    writeAccess: r.write_access as ClientNode['writeAccess'],
    channels: JSON.parse(r.channels) as string[],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * A table as both dialects read and write it: its columns in insert order, a row to its domain
 * value, and a domain value to the insert's bound values in `columns` order. Booleans stay
 * booleans here; SQLite's queries bind them as 0/1.
 */
export interface Table<R, T> {
  readonly columns: string;
  read(row: R): T;
  values(value: T): unknown[];
}

export const NODE: Table<NodeRow, NodeRecord> = {
  columns: NODE_COLUMNS,
  read: toNode,
  values: (n) => [n.id, n.name, n.createdAt, n.ownerPasswordHash],
};

export const CHANNEL: Table<ChannelRow, Channel> & { updateValues(c: Channel): unknown[] } = {
  columns: CHANNEL_COLUMNS,
  read: toChannel,
  values: (c) => [c.id, c.name, c.namespace, c.description, c.originNodeId, c.createdAt, c.updatedAt, c.lastSeq, c.originName ?? null],
  /** Values of both dialects' `UPDATE channels SET description, updated_at, last_seq WHERE id`, in that order. */
  updateValues: (c) => [c.description, c.updatedAt, c.lastSeq, c.id],
};

export const POST: Table<PostRow, Post> & { updateValues(p: Post): unknown[] } = {
  columns: POST_COLUMNS,
  read: toPost,
  values: (p) => [
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
  ],
  /** Values of both dialects' `UPDATE posts SET body, meta, blob_refs, updated_at, edited, deleted WHERE id`, in that order. */
  updateValues: (p) => [p.body, JSON.stringify(p.meta), JSON.stringify(p.blobRefs), p.updatedAt, p.edited, p.deleted, p.id],
};

export const LINK: Table<LinkRow, Link> = {
  columns: LINK_COLUMNS,
  read: toLink,
  values: (l) => [l.id, l.fromPostId, l.toPostId, l.label, l.originNodeId, l.createdAt],
};

export const CHANGE: Table<ChangeRow, Change> = {
  columns: CHANGE_COLUMNS,
  read: toChange,
  values: (c) => [c.serial, c.originNodeId, c.originSerial, c.type, c.payloadVersion, JSON.stringify(c.payload), c.createdAt, c.prevHash, c.hash],
};

export const SESSION: Table<SessionRow, Session> = {
  columns: SESSION_COLUMNS,
  read: toSession,
  values: (s) => [s.tokenHash, s.subjectKind, s.subjectId, s.createdAt, s.expiresAt],
};

export const CLIENT_NODE: Table<ClientNodeRow, ClientNode> & { updateValues(n: ClientNode): unknown[] } = {
  columns: CLIENT_NODE_COLUMNS,
  read: toClientNode,
  values: (n) => [n.id, n.passwordHash, n.asOwner, n.role, n.writeAccess, JSON.stringify(n.channels), n.createdAt, n.updatedAt],
  /** Values of both dialects' `UPDATE client_nodes SET password_hash, as_owner, role, write_access, channels, updated_at WHERE id`, in that order. */
  updateValues: (n) => [n.passwordHash, n.asOwner, n.role, n.writeAccess, JSON.stringify(n.channels), n.updatedAt, n.id],
};

/** The head of an empty change log. */
export const EMPTY_HEAD_HASH = '0'.repeat(64);

/**
 * The offset of a channel's last stream event (0 when none), as an SQL expression on the channel
 * id parameter `param`. An ordered LIMIT 1 is an index seek on the primary key in both
 * databases; MAX() with a WHERE clause is a scan of the channel's events in SQLite.
 */
export const STREAM_TOP = (param: string): string =>
  `COALESCE((SELECT stream_offset FROM stream_events WHERE channel_id = ${param} ORDER BY stream_offset DESC LIMIT 1), 0)`;

/** A stream event row: the post's fixed columns (from posts) with the event's own. */
export interface StreamEventRow extends PostRow {
  stream_offset: number;
  publisher: string | null;
}

/**
 * Stream events, read joined with their post (alias `p`, events `e`): the event holds the
 * mutable fields as it left them. Its content (body, meta, blob refs) is NULL while it is the
 * post row's own — the common case, so a post's creation does not write its content twice —
 * and is filled in from the row (`FREEZE_STREAM_EVENTS`) just before the row changes.
 * Appended at the channel's top + 1.
 */
export const STREAM_EVENT = {
  columns:
    'p.id, p.channel_id, p.seq, p.author, COALESCE(e.body, p.body) AS body, COALESCE(e.meta, p.meta) AS meta, COALESCE(e.blob_refs, p.blob_refs) AS blob_refs, p.origin_node_id, p.created_at, e.updated_at, e.edited, e.deleted, e.stream_offset, e.publisher',
  insertColumns: 'channel_id, stream_offset, post_id, updated_at, edited, deleted, publisher',
  read: (r: StreamEventRow): StreamEvent => ({
    offset: r.stream_offset,
    post: toPost(r),
    publisher: r.publisher === null ? null : (JSON.parse(r.publisher) as unknown),
  }),
  /** Values of the insert after the channel id and offset; the event's content is the post row's (NULL). */
  values: (p: Post, publisher: unknown): unknown[] => [
    p.id,
    p.updatedAt,
    p.edited,
    p.deleted,
    publisher === null || publisher === undefined ? null : JSON.stringify(publisher),
  ],
};

/**
 * Gives a post's events that still share the post row's content (NULL) a copy of it; run right
 * before the row changes, so every event keeps the content it had. `param` binds the post id.
 */
export const FREEZE_STREAM_EVENTS = (param: string): string =>
  `UPDATE stream_events SET body = p.body, meta = p.meta, blob_refs = p.blob_refs FROM posts p WHERE p.id = ${param} AND stream_events.post_id = ${param} AND stream_events.body IS NULL`;

export interface PeerCursorRow {
  peer_node_id: string;
  serial: number;
  hash: string;
}

export interface NetworkPeerRow {
  node_id: string;
  name: string;
  created_at: number;
  first_seen_at: number;
  last_seen_at: number;
}

export interface NetworkServerRow {
  id: string;
  url: string;
  password: string;
  role: string;
  transport: string;
  created_at: number;
}

export const PEER_CURSOR = {
  columns: 'peer_node_id, serial, hash',
  read: (r: PeerCursorRow): PeerCursor => ({ peerNodeId: r.peer_node_id, serial: r.serial, hash: r.hash }),
  /** Values of the upsert: the cursor's columns, then updated_at. */
  values: (c: PeerCursor, now: number): unknown[] => [c.peerNodeId, c.serial, c.hash, now],
};

export const NETWORK_PEER: Table<NetworkPeerRow, NetworkPeer> = {
  columns: 'node_id, name, created_at, first_seen_at, last_seen_at',
  read: (r) => ({ nodeId: r.node_id, name: r.name, createdAt: r.created_at, firstSeenAt: r.first_seen_at, lastSeenAt: r.last_seen_at }),
  values: (p) => [p.nodeId, p.name, p.createdAt, p.firstSeenAt, p.lastSeenAt],
};

export const NETWORK_SERVER: Table<NetworkServerRow, NetworkServerRecord> = {
  columns: 'id, url, password, role, transport, created_at',
  read: (r) => ({
    id: r.id,
    url: r.url,
    password: r.password,
    role: r.role as NetworkServerRecord['role'],
    transport: r.transport as NetworkServerRecord['transport'],
    createdAt: r.created_at,
  }),
  values: (s) => [s.id, s.url, s.password, s.role, s.transport, s.createdAt],
};

export interface BlobRow {
  sha256: string;
  sha1: string;
  size: number;
  media_type: string | null;
  uploaded_by: string;
  origin_node_id: string;
  created_at: number;
}

export const BLOB: Table<BlobRow, BlobRecord> = {
  columns: 'sha256, sha1, size, media_type, uploaded_by, origin_node_id, created_at',
  read: (r) => ({
    sha256: r.sha256,
    sha1: r.sha1,
    size: r.size,
    mediaType: r.media_type,
    uploadedBy: r.uploaded_by,
    originNodeId: r.origin_node_id,
    createdAt: r.created_at,
  }),
  values: (b) => [b.sha256, b.sha1, b.size, b.mediaType, b.uploadedBy, b.originNodeId, b.createdAt],
};

export interface BlobPinRow {
  sha256: string;
  pinned_by: string;
  created_at: number;
}

export const BLOB_PIN: Table<BlobPinRow, BlobPin> = {
  columns: 'sha256, pinned_by, created_at',
  read: (r) => ({ sha256: r.sha256, pinnedBy: r.pinned_by, createdAt: r.created_at }),
  values: (p) => [p.sha256, p.pinnedBy, p.createdAt],
};

/** The distinct blob URIs a post refers to (post_blob_refs rows). */
export function postBlobUris(p: Post): string[] {
  return [...new Set(p.blobRefs)];
}

/** A JSON column: NULL for null (or absent), else the value's JSON text. */
function jsonOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}

function parseOrNull(text: string | null): unknown {
  return text === null ? null : (JSON.parse(text) as unknown);
}

export interface ComputeProjectRow {
  id: string;
  name: string;
  small_cell_k: number;
  origin_node_id: string;
  created_at: number;
}

/** Without token_hash: that is local, written and read by its own statements. */
export const COMPUTE_PROJECT: Table<ComputeProjectRow, ComputeProject> = {
  columns: 'id, name, small_cell_k, origin_node_id, created_at',
  read: (r) => ({ id: r.id, name: r.name, smallCellK: r.small_cell_k, originNodeId: r.origin_node_id, createdAt: r.created_at }),
  values: (p) => [p.id, p.name, p.smallCellK, p.originNodeId, p.createdAt],
};

export interface ComputeInvitationRow {
  id: string;
  secret_hash: string;
  created_by: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  used_by: string | null;
}

export const COMPUTE_INVITATION: Table<ComputeInvitationRow, ComputeInvitation> = {
  columns: 'id, secret_hash, created_by, created_at, expires_at, used_at, used_by',
  read: (r) => ({
    id: r.id,
    secretHash: r.secret_hash,
    createdBy: r.created_by,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    usedAt: r.used_at,
    usedBy: r.used_by,
  }),
  values: (i) => [i.id, i.secretHash, i.createdBy, i.createdAt, i.expiresAt, i.usedAt, i.usedBy],
};

export interface ComputeClientRow {
  id: string;
  name: string;
  public_key: string;
  datasources: string;
  joined_at: number;
  origin_node_id: string;
  last_seen_at: number | null;
}

export const COMPUTE_CLIENT: Table<ComputeClientRow, ComputeClient> = {
  columns: 'id, name, public_key, datasources, joined_at, origin_node_id, last_seen_at',
  read: (r) => ({
    id: r.id,
    name: r.name,
    publicKey: r.public_key,
    datasources: JSON.parse(r.datasources) as ComputeDatasourceBinding[],
    joinedAt: r.joined_at,
    originNodeId: r.origin_node_id,
    lastSeenAt: r.last_seen_at,
  }),
  values: (c) => [c.id, c.name, c.publicKey, JSON.stringify(c.datasources), c.joinedAt, c.originNodeId, c.lastSeenAt],
};

export interface ComputeJobRow {
  id: string;
  project_id: string;
  datasource: string;
  plan: string;
  status: string;
  round: number;
  max_attempts: number;
  lease_seconds: number;
  submitted_by: string;
  origin_node_id: string;
  created_at: number;
  updated_at: number;
  result: string | null;
  result_blob_sha256: string | null;
  error: string | null;
}

export const COMPUTE_JOB: Table<ComputeJobRow, ComputeJob> & { updateValues(j: ComputeJob): unknown[] } = {
  columns:
    'id, project_id, datasource, plan, status, round, max_attempts, lease_seconds, submitted_by, origin_node_id, created_at, updated_at, result, result_blob_sha256, error',
  read: (r) => ({
    id: r.id,
    projectId: r.project_id,
    datasource: r.datasource,
    plan: JSON.parse(r.plan) as unknown,
    status: r.status as ComputeJobStatus,
    round: r.round,
    maxAttempts: r.max_attempts,
    leaseSeconds: r.lease_seconds,
    submittedBy: r.submitted_by,
    originNodeId: r.origin_node_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    result: parseOrNull(r.result),
    resultBlobSha256: r.result_blob_sha256,
    error: parseOrNull(r.error),
  }),
  values: (j) => [
    j.id,
    j.projectId,
    j.datasource,
    JSON.stringify(j.plan),
    j.status,
    j.round,
    j.maxAttempts,
    j.leaseSeconds,
    j.submittedBy,
    j.originNodeId,
    j.createdAt,
    j.updatedAt,
    jsonOrNull(j.result),
    j.resultBlobSha256,
    jsonOrNull(j.error),
  ],
  /** Values of both dialects' `UPDATE compute_jobs SET status, round, updated_at, result, result_blob_sha256, error WHERE id`. */
  updateValues: (j) => [j.status, j.round, j.updatedAt, jsonOrNull(j.result), j.resultBlobSha256, jsonOrNull(j.error), j.id],
};

export interface ComputeTaskRow {
  id: string;
  job_id: string;
  round: number;
  client_id: string;
  datasource: string;
  input: string;
  status: string;
  lease_id: string | null;
  lease_expires_at: number | null;
  attempts: number;
  output: string | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

export const COMPUTE_TASK: Table<ComputeTaskRow, ComputeTask> & { updateValues(t: ComputeTask): unknown[] } = {
  columns: 'id, job_id, round, client_id, datasource, input, status, lease_id, lease_expires_at, attempts, output, error, created_at, updated_at',
  read: (r) => ({
    id: r.id,
    jobId: r.job_id,
    round: r.round,
    clientId: r.client_id,
    datasource: r.datasource,
    input: JSON.parse(r.input) as unknown,
    status: r.status as ComputeTaskStatus,
    leaseId: r.lease_id,
    leaseExpiresAt: r.lease_expires_at,
    attempts: r.attempts,
    output: parseOrNull(r.output),
    error: parseOrNull(r.error),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }),
  values: (t) => [
    t.id,
    t.jobId,
    t.round,
    t.clientId,
    t.datasource,
    JSON.stringify(t.input),
    t.status,
    t.leaseId,
    t.leaseExpiresAt,
    t.attempts,
    jsonOrNull(t.output),
    jsonOrNull(t.error),
    t.createdAt,
    t.updatedAt,
  ],
  /** Values of both dialects' `UPDATE compute_tasks SET status, lease_id, lease_expires_at, attempts, output, error, updated_at WHERE id`. */
  updateValues: (t) => [t.status, t.leaseId, t.leaseExpiresAt, t.attempts, jsonOrNull(t.output), jsonOrNull(t.error), t.updatedAt, t.id],
};
