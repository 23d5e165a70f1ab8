/**
 * The content model: what a node stores and replicates. Times are milliseconds since the
 * epoch (UTC); ids are UUIDv7 strings. Every entity records the node it was created on
 * (`originNodeId`): that node is its single writer.
 */

import { COMPUTE_CHANGE_TYPES } from './compute.js';

export interface NodeRecord {
  id: string;
  name: string;
  createdAt: number;
  /** scrypt hash of the owner password, or null while none is set. */
  ownerPasswordHash: string | null;
}

export interface Channel {
  id: string;
  /** Full name `namespace:name`; a name without ':' is in the default namespace "". */
  name: string;
  namespace: string;
  description: string;
  originNodeId: string;
  createdAt: number;
  updatedAt: number;
  /** Seq of the last post created in this channel (0 when none). */
  lastSeq: number;
  /**
   * The channel's replicated name when this node knows it under another `name` (an imported
   * channel whose name was taken here; docs/network.md "Channel names"). Absent when the same.
   */
  originName?: string;
}

export interface Post {
  id: string;
  channelId: string;
  /** Position in its channel: 1, 2, 3… gapless, assigned on commit. Realtime offsets use it. */
  seq: number;
  /** Who wrote it: `owner`, `user:<id>` or `node:<id>`. */
  author: string;
  body: string;
  /** Application JSON; an object. */
  meta: Record<string, unknown>;
  /** Content-addressed blob references (`sha256://…`); the blobs themselves come later. */
  blobRefs: string[];
  originNodeId: string;
  createdAt: number;
  updatedAt: number;
  edited: boolean;
  /** A deleted post is a tombstone: body, meta and blob refs are cleared. */
  deleted: boolean;
}

export interface Link {
  id: string;
  fromPostId: string;
  toPostId: string;
  label: string;
  originNodeId: string;
  createdAt: number;
}

/** The record of a stored blob (docs/blobs.md); the bytes live in the blob store. */
export interface BlobRecord {
  /** Lower-case hex digests. */
  sha256: string;
  sha1: string;
  size: number;
  /** The Content-Type it was uploaded with, or null. */
  mediaType: string | null;
  /** authorOf() of the first actor that stored it here or on its origin node. */
  uploadedBy: string;
  originNodeId: string;
  createdAt: number;
}

/** A local pin: keeps a blob from GC. Not replicated. */
export interface BlobPin {
  sha256: string;
  pinnedBy: string;
  createdAt: number;
}

/** Every change type the log can hold; the payload of each is versioned (`payloadVersion`). */
export const CHANGE_TYPES = [
  'channel.created',
  'channel.updated',
  'channel.deleted',
  'post.created',
  'post.edited',
  'post.deleted',
  'link.created',
  'link.deleted',
  'blob.stored',
  ...COMPUTE_CHANGE_TYPES,
] as const;
export type ChangeType = (typeof CHANGE_TYPES)[number];

/** One entry of a node's change log. */
export interface Change {
  /** Local serial: gapless, strictly increasing from 1. */
  serial: number;
  originNodeId: string;
  /** The serial this change had on its origin node; (originNodeId, originSerial) is unique. */
  originSerial: number;
  type: ChangeType;
  payloadVersion: number;
  payload: Record<string, unknown>;
  createdAt: number;
  /** Hash of the previous change (64 zeros for serial 1). */
  prevHash: string;
  /** sha256(prevHash ‖ canonical(change without hashes)), hex. */
  hash: string;
}

/** A change before the log assigns its serial and hashes. */
export interface ChangeDraft {
  originNodeId: string;
  /** Omit for a local change: the origin serial is then the local serial. */
  originSerial?: number;
  type: ChangeType;
  payloadVersion: number;
  payload: Record<string, unknown>;
  createdAt: number;
}

export interface Session {
  /** sha256 of the bearer token; the token itself is never stored. */
  tokenHash: string;
  subjectKind: 'owner' | 'node';
  subjectId: string;
  createdAt: number;
  expiresAt: number;
}

/** What a client node does with data: a `child` pulls from this node, a `parent` is pulled by it. */
export const NODE_DATA_ROLES = ['child', 'parent', 'both'] as const;
export type NodeDataRole = (typeof NODE_DATA_ROLES)[number];

/** Whether writes a client node forwards to this node are accepted. */
export const NODE_WRITE_ACCESS = ['read-only', 'read-write'] as const;
export type NodeWriteAccess = (typeof NODE_WRITE_ACCESS)[number];

/**
 * A node allowed to connect to this one (its client), registered by the owner. This is the
 * node's own configuration, not replicated content: it never enters the change log.
 */
export interface ClientNode {
  id: string;
  passwordHash: string;
  asOwner: boolean;
  role: NodeDataRole;
  writeAccess: NodeWriteAccess;
  /** Channel names and `namespace:*` patterns it may pull and write; empty means every channel. */
  channels: string[];
  createdAt: number;
  updatedAt: number;
}

export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page, or null at the end. */
  nextCursor: string | null;
}
