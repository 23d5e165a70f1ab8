import type { Change, ChangeType, Channel, ClientNode, Link, NodeRecord, Post, Session } from '../model/content.js';
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
const CHANNEL_COLUMNS = 'id, name, namespace, description, origin_node_id, created_at, updated_at, last_seq';
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
  return {
    id: r.id,
    name: r.name,
    namespace: r.namespace,
    description: r.description,
    originNodeId: r.origin_node_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    lastSeq: r.last_seq,
  };
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
  values: (c) => [c.id, c.name, c.namespace, c.description, c.originNodeId, c.createdAt, c.updatedAt, c.lastSeq],
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
