import { z } from 'zod';
import { MycelError } from '../errors.js';
import type { Change, ChangeType, Channel, Link, Post } from '../model/content.js';
import type { ComputeChangeType } from '../model/compute.js';
import type { StorageTx } from '../storage/storage.js';
import { applyComputeChange, isComputeChange } from './apply-compute.js';
import { about, invalidChange, parseVersionedPayload } from './change-payload.js';
import { localNameFor, replicatedChannel, replicatedName } from './channel-names.js';
import {
  checkAuthor,
  checkBlobRefs,
  checkBody,
  checkDescription,
  checkIdempotencyKey,
  checkLabel,
  checkMeta,
  parseChannelName,
} from './validation.js';

/*
 * Applying a change: makes the entity tables (channels, posts, links, a channel's lastSeq, a
 * post's idempotency key) reflect one change of the log. The Operator does not use this: it
 * writes its entities itself and appends. Apply is for replaying a log (`mycel verify`
 * rebuilds the state from the log with it) and for importing another node's changes
 * (replication calls it inside a UnitOfWork, then re-appends the change with its origin).
 *
 * A change may come from another node, so it is untrusted input: its payload is checked
 * against the schema of its type and version (zod), then with the same domain rules the
 * Operator applies to a client's input, then against the state it lands on. Anything wrong is
 * a typed error (CHANGE_UNSUPPORTED, CHANGE_INVALID) and nothing of the change is applied
 * (the caller's transaction rolls back); nothing is skipped silently.
 *
 * Applying the same change again is a no-op, decided by entity id and updatedAt:
 * - *.created: an entity with that id exists already → nothing to do (if it is the same
 *   entity: its fields that never change must match, else the id is taken by another);
 * - *.deleted: no entity with that id → nothing to do;
 * - channel.updated, post.edited: the stored row is newer (updatedAt greater) → nothing to do;
 *   an equal updatedAt applies again, which writes the same values (two updates within one
 *   millisecond arrive in log order, so the later one still wins);
 * - post.edited, post.deleted on a tombstone: nothing to do (a deleted post stays deleted).
 * What apply cannot know is an entity deleted earlier: a stale `created` after its `deleted`
 * would bring it back. Replication never sends one, as it moves its cursor in the same
 * transaction as the import.
 *
 * Channel names: payloads carry a channel's replicated name, and apply checks against it. A
 * channel.created whose name is taken here by another channel is stored under a local name
 * (channel-names.ts); replaying the same log takes the same decisions in the same order.
 *
 * NOTE for whoever adds a column or counter that the Operator writes (a per-channel event
 * counter of the persisted realtime path, say): apply must write it too, from the payload or
 * derived as the Operator derives it, or `mycel verify` reports the live tables as differing
 * from the log (if the counter is in the digest) and imported rows lack it.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Lower case only: ids are compared and ordered as strings (the digest walks them by id).
const id = z.string().regex(UUID, 'must be a lower-case UUID');
const millis = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

const channelSchema = z.strictObject({
  id,
  name: z.string(),
  namespace: z.string(),
  description: z.string(),
  originNodeId: id,
  createdAt: millis,
  updatedAt: millis,
  lastSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});

const postSchema = z.strictObject({
  id,
  channelId: id,
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  author: z.string(),
  body: z.string(),
  meta: z.record(z.string(), z.unknown()),
  blobRefs: z.array(z.string()),
  originNodeId: id,
  createdAt: millis,
  updatedAt: millis,
  edited: z.boolean(),
  deleted: z.boolean(),
});

const blobSchema = z.strictObject({
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'),
  sha1: z.string().regex(/^[0-9a-f]{40}$/, 'must be 40 lower-case hex digits'),
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  mediaType: z.string().max(255).nullable(),
  uploadedBy: z.string(),
  originNodeId: id,
  createdAt: millis,
});

const linkSchema = z.strictObject({ id, fromPostId: id, toPostId: id, label: z.string(), originNodeId: id, createdAt: millis });

/** Payload schemas by change type and payload version: what operator.ts writes. */
const PAYLOADS = {
  'channel.created': { 1: z.strictObject({ channel: channelSchema }) },
  'channel.updated': { 1: z.strictObject({ channel: channelSchema }) },
  'channel.deleted': { 1: z.strictObject({ id, name: z.string() }) },
  'post.created': { 1: z.strictObject({ post: postSchema, channelName: z.string(), idempotencyKey: z.string().optional() }) },
  'post.edited': { 1: z.strictObject({ post: postSchema }) },
  'post.deleted': { 1: z.strictObject({ post: postSchema }) },
  'link.created': { 1: z.strictObject({ link: linkSchema }) },
  'link.deleted': { 1: z.strictObject({ id, fromPostId: id, toPostId: id }) },
  'blob.stored': { 1: z.strictObject({ blob: blobSchema }) },
} as const satisfies Record<ContentChangeType, Record<number, z.ZodType>>;

/** The change types apply.ts reads itself (compute's are apply-compute.ts's). */
type ContentChangeType = Exclude<ChangeType, ComputeChangeType>;

type Payload<K extends ContentChangeType> = z.infer<(typeof PAYLOADS)[K][1]>;

const invalid = invalidChange;

/** The payload of `change`, checked against the schema of its type and version. */
function payloadOf<K extends ContentChangeType>(change: Change, type: K): Payload<K> {
  const versions: Record<number, z.ZodType> = PAYLOADS[type];
  return parseVersionedPayload<Payload<K>>(change, versions);
}

/** Runs a domain validator; its VALIDATION_FAILED becomes this change's CHANGE_INVALID. */
function checked<T>(change: Change, where: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof MycelError && err.code === 'VALIDATION_FAILED') {
      throw invalid(change, `${where}: ${err.message}`);
    }
    throw err;
  }
}

function checkChannel(change: Change, c: Channel): void {
  const { namespace } = checked(change, 'channel.name', () => parseChannelName(c.name));
  if (namespace !== c.namespace) throw invalid(change, `channel.namespace must be "${namespace}" for the name ${c.name}`);
  checked(change, 'channel', () => checkDescription(c.description));
}

function checkPost(change: Change, p: Post): void {
  checked(change, 'post', () => {
    checkAuthor(p.author);
    checkBody(p.body);
    checkMeta(p.meta);
    if (checkBlobRefs(p.blobRefs).length !== p.blobRefs.length) throw invalid(change, 'post.blobRefs: an entry appears twice');
  });
  if (p.deleted && (p.body !== '' || p.blobRefs.length > 0 || Object.keys(p.meta).length > 0)) {
    throw invalid(change, 'post: a deleted post has an empty body, meta and blobRefs');
  }
}

/** The created entity must be the creating node's: a node cannot create on another's behalf. */
function checkOrigin(change: Change, entity: { originNodeId: string }, kind: string): void {
  if (entity.originNodeId !== change.originNodeId) {
    throw invalid(change, `${kind}.originNodeId ${entity.originNodeId} is not the change's origin ${change.originNodeId}`);
  }
}

/** Fields of a post that no edit or delete changes. */
const POST_FIXED = ['channelId', 'seq', 'author', 'originNodeId', 'createdAt'] as const;
/** A link never changes. */
const LINK_FIXED = ['fromPostId', 'toPostId', 'label', 'originNodeId', 'createdAt'] as const;
/** What the bytes fix: two records of one blob agree on these whoever uploaded it. */
const BLOB_FIXED = ['sha256', 'sha1', 'size'] as const;
/** Fields of a channel that no update changes. */
const CHANNEL_FIXED = ['name', 'namespace', 'originNodeId', 'createdAt'] as const;

function checkFixed<T, K extends keyof T & string>(change: Change, kind: string, stored: T, incoming: T, fields: readonly K[]): void {
  for (const field of fields) {
    if (stored[field] !== incoming[field]) throw invalid(change, `${kind}.${field} differs from the stored ${kind} (it never changes)`, { field });
  }
}

async function channelCreated(tx: StorageTx, change: Change, { channel }: Payload<'channel.created'>): Promise<void> {
  checkChannel(change, channel);
  checkOrigin(change, channel, 'channel');
  const existing = await tx.getChannel(channel.id);
  if (existing) return checkFixed(change, 'channel', replicatedChannel(existing), channel, CHANNEL_FIXED);
  if (channel.lastSeq !== 0) throw invalid(change, 'channel.lastSeq of a new channel must be 0');
  const local = await localNameFor(tx, channel.name, channel.originNodeId);
  if (local === null) {
    throw invalid(change, `the name ${channel.name} and its fallback names are all taken by other channels on this node`, { name: channel.name });
  }
  await tx.insertChannel(local === channel.name ? channel : { ...channel, name: local, originName: channel.name });
}

async function channelUpdated(tx: StorageTx, change: Change, { channel }: Payload<'channel.updated'>): Promise<void> {
  checkChannel(change, channel);
  const stored = await tx.getChannel(channel.id);
  if (!stored) throw invalid(change, `channel ${channel.id} does not exist`);
  checkFixed(change, 'channel', replicatedChannel(stored), channel, CHANNEL_FIXED);
  if (stored.updatedAt > channel.updatedAt) return;
  // lastSeq moves with posts (post.created), which may already be applied past this update.
  await tx.updateChannel({ ...stored, description: channel.description, updatedAt: channel.updatedAt, lastSeq: Math.max(stored.lastSeq, channel.lastSeq) });
}

async function channelDeleted(tx: StorageTx, change: Change, payload: Payload<'channel.deleted'>): Promise<void> {
  const stored = await tx.getChannel(payload.id);
  if (!stored) return;
  if (replicatedName(stored) !== payload.name) throw invalid(change, `channel ${payload.id} is named ${replicatedName(stored)}, not ${payload.name}`);
  await tx.deleteChannel(payload.id);
}

async function postCreated(tx: StorageTx, change: Change, payload: Payload<'post.created'>): Promise<AppliedPost | undefined> {
  const { post, channelName, idempotencyKey } = payload;
  checkPost(change, post);
  checkOrigin(change, post, 'post');
  if (idempotencyKey !== undefined) checked(change, 'idempotencyKey', () => checkIdempotencyKey(idempotencyKey));
  const existing = await tx.getPost(post.id);
  if (existing) {
    checkFixed(change, 'post', existing, post, POST_FIXED);
    return undefined;
  }
  const channel = await tx.getChannel(post.channelId);
  if (!channel) throw invalid(change, `channel ${post.channelId} does not exist`);
  if (replicatedName(channel) !== channelName) {
    throw invalid(change, `channel ${post.channelId} is named ${replicatedName(channel)}, not ${channelName}`);
  }
  // Posts of a channel are all created by its node, in seq order, and the log keeps that order.
  if (post.seq !== channel.lastSeq + 1) throw invalid(change, `post.seq ${post.seq} does not follow the channel's last seq ${channel.lastSeq}`);
  if (idempotencyKey !== undefined) {
    const earlier = await tx.getPostByIdempotencyKey(channel.id, idempotencyKey);
    if (earlier) throw invalid(change, `the idempotency key belongs to post ${earlier.id}`);
  }
  await tx.insertPost(post);
  await tx.updateChannel({ ...channel, lastSeq: post.seq });
  if (idempotencyKey !== undefined) await tx.insertIdempotencyKey(channel.id, idempotencyKey, post.id);
  return { post, channel };
}

async function postChanged(tx: StorageTx, change: Change, post: Post, deleted: boolean): Promise<AppliedPost | undefined> {
  checkPost(change, post);
  if (post.deleted !== deleted) throw invalid(change, `post.deleted must be ${String(deleted)} in ${change.type}`);
  if (!deleted && !post.edited) throw invalid(change, 'post.edited must be true in post.edited');
  const stored = await tx.getPost(post.id);
  if (!stored) throw invalid(change, `post ${post.id} does not exist`);
  checkFixed(change, 'post', stored, post, POST_FIXED);
  if (stored.deleted || stored.updatedAt > post.updatedAt) return undefined;
  await tx.updatePost(post);
  return { post };
}

async function linkCreated(tx: StorageTx, change: Change, { link }: Payload<'link.created'>): Promise<void> {
  checked(change, 'link.label', () => checkLabel(link.label));
  checkOrigin(change, link, 'link');
  const existing = await tx.getLink(link.id);
  if (existing) return checkFixed(change, 'link', existing, link, LINK_FIXED);
  for (const postId of [link.fromPostId, link.toPostId]) {
    if (!(await tx.getPost(postId))) throw invalid(change, `post ${postId} does not exist`);
  }
  const same = await tx.findLink(link.fromPostId, link.toPostId, link.label);
  if (same) throw invalid(change, `link ${same.id} already joins these posts with this label`);
  await tx.insertLink(link);
}

async function linkDeleted(tx: StorageTx, change: Change, payload: Payload<'link.deleted'>): Promise<void> {
  const stored: Link | null = await tx.getLink(payload.id);
  if (!stored) return;
  if (stored.fromPostId !== payload.fromPostId || stored.toPostId !== payload.toPostId) {
    throw invalid(change, `link ${payload.id} joins ${stored.fromPostId} → ${stored.toPostId}, not the posts the change names`);
  }
  await tx.deleteLink(payload.id);
}

/**
 * A blob record. The same bytes may be recorded independently on several nodes (each upload
 * makes its own `blob.stored`), so an existing record by sha256 is kept as it is (the first one
 * this node saw) as long as what the hash fixes (sha1, size) agrees; only those are checked.
 */
async function blobStored(tx: StorageTx, change: Change, { blob }: Payload<'blob.stored'>): Promise<void> {
  checkOrigin(change, blob, 'blob');
  checked(change, 'blob.uploadedBy', () => checkAuthor(blob.uploadedBy));
  const existing = (await tx.getBlob(blob.sha256)) ?? (await tx.getBlobBySha1(blob.sha1));
  if (existing) return checkFixed(change, 'blob', existing, blob, BLOB_FIXED);
  await tx.insertBlob(blob);
}

/** A post that a change wrote, as it now is, with its channel when apply read it anyway. */
export interface AppliedPost {
  post: Post;
  channel?: Channel;
}

/**
 * Makes the entity tables reflect `change` inside `tx`; applying it again is a no-op. Throws
 * CHANGE_UNSUPPORTED for a type or payload version this node does not know, CHANGE_INVALID for
 * a payload that is malformed or does not fit the stored state; the caller rolls back.
 * Resolves with the post a post.* change wrote (for its stream event), else undefined.
 */
export async function applyChange(tx: StorageTx, change: Change): Promise<AppliedPost | undefined> {
  // `type` is typed, but a change from another node may carry anything there.
  const type: string = change.type;
  switch (change.type) {
    case 'channel.created':
      await channelCreated(tx, change, payloadOf(change, 'channel.created'));
      return undefined;
    case 'channel.updated':
      await channelUpdated(tx, change, payloadOf(change, 'channel.updated'));
      return undefined;
    case 'channel.deleted':
      await channelDeleted(tx, change, payloadOf(change, 'channel.deleted'));
      return undefined;
    case 'post.created':
      return postCreated(tx, change, payloadOf(change, 'post.created'));
    case 'post.edited':
      return postChanged(tx, change, payloadOf(change, 'post.edited').post, false);
    case 'post.deleted':
      return postChanged(tx, change, payloadOf(change, 'post.deleted').post, true);
    case 'link.created':
      await linkCreated(tx, change, payloadOf(change, 'link.created'));
      return undefined;
    case 'link.deleted':
      await linkDeleted(tx, change, payloadOf(change, 'link.deleted'));
      return undefined;
    case 'blob.stored':
      await blobStored(tx, change, payloadOf(change, 'blob.stored'));
      return undefined;
    default:
      if (isComputeChange(change)) {
        await applyComputeChange(tx, change);
        return undefined;
      }
      throw new MycelError(
        'CHANGE_UNSUPPORTED',
        { ...about(change), payloadVersion: change.payloadVersion },
        `change ${change.serial}: the type ${JSON.stringify(type)} is not known to this node`,
      );
  }
}
