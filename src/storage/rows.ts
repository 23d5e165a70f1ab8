import type { Change, ChangeType, Channel, ClientNode, Link, NodeRecord, Post, Session } from '../domain/types.js';

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
  created_at: number;
}

// Column lists in the order the insert statements of both dialects bind them.
export const NODE_COLUMNS = 'id, name, created_at, owner_password_hash';
export const CHANNEL_COLUMNS = 'id, name, namespace, description, origin_node_id, created_at, updated_at, last_seq';
export const POST_COLUMNS =
  'id, channel_id, seq, author, body, meta, blob_refs, origin_node_id, created_at, updated_at, edited, deleted';
export const LINK_COLUMNS = 'id, from_post_id, to_post_id, label, origin_node_id, created_at';
export const CHANGE_COLUMNS = 'serial, origin_node_id, origin_serial, type, payload_version, payload, created_at, prev_hash, hash';
export const SESSION_COLUMNS = 'token_hash, subject_kind, subject_id, created_at, expires_at';
export const CLIENT_NODE_COLUMNS = 'id, password_hash, as_owner, created_at';

export function toNode(r: NodeRow): NodeRecord {
  return { id: r.id, name: r.name, createdAt: r.created_at, ownerPasswordHash: r.owner_password_hash };
}

export function toChannel(r: ChannelRow): Channel {
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

export function toPost(r: PostRow): Post {
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

export function toLink(r: LinkRow): Link {
  return {
    id: r.id,
    fromPostId: r.from_post_id,
    toPostId: r.to_post_id,
    label: r.label,
    originNodeId: r.origin_node_id,
    createdAt: r.created_at,
  };
}

export function toChange(r: ChangeRow): Change {
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

export function toSession(r: SessionRow): Session {
  return {
    tokenHash: r.token_hash,
    subjectKind: r.subject_kind as Session['subjectKind'],
    subjectId: r.subject_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

export function toClientNode(r: ClientNodeRow): ClientNode {
  return {
    id: r.id,
    passwordHash: r.password_hash,
    asOwner: r.as_owner === true || r.as_owner === 1,
    createdAt: r.created_at,
  };
}

/** The head of an empty change log. */
export const EMPTY_HEAD_HASH = '0'.repeat(64);
