import { z } from 'zod';
import { MycelError } from '../errors.js';
import type { Change, ChangeType, Channel, Link, Post } from '../model/content.js';
import type { StorageTx } from '../storage/storage.js';
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
} as const satisfies Record<ChangeType, Record<number, z.ZodType>>;

type Payload<K extends ChangeType> = z.infer<(typeof PAYLOADS)[K][1]>;

/** What a failing change is reported with: where it is in the log and what it is. */
function about(change: Change): Record<string, unknown> {
  return { serial: change.serial, originNodeId: change.originNodeId, originSerial: change.originSerial, type: change.type };
}

function invalid(change: Change, reason: string, extra: Record<string, unknown> = {}): MycelError {
  return new MycelError('CHANGE_INVALID', { ...about(change), reason, ...extra }, `change ${change.serial} (${change.type}) cannot be applied: ${reason}`);
}

/** The payload of `change`, checked against the schema of its type and version. */
function payloadOf<K extends ChangeType>(change: Change, type: K): Payload<K> {
  const versions: Record<number, z.ZodType> = PAYLOADS[type];
  const schema = Object.hasOwn(versions, change.payloadVersion) ? versions[change.payloadVersion] : undefined;
  if (schema === undefined) {
    throw new MycelError(
      'CHANGE_UNSUPPORTED',
      { ...about(change), payloadVersion: change.payloadVersion },
      `change ${change.serial}: ${type} payload version ${String(change.payloadVersion)} is not known to this node`,
    );
  }
  const parsed = schema.safeParse(change.payload);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
    const first = issues[0]!;
    throw invalid(change, `payload ${first.path || '(root)'}: ${first.message}`, { issues });
  }
  return parsed.data as Payload<K>;
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
  if (existing) return checkFixed(change, 'channel', existing, channel, CHANNEL_FIXED);
  const named = await tx.getChannelByName(channel.name);
  if (named) throw invalid(change, `the name ${channel.name} belongs to channel ${named.id}`);
  if (channel.lastSeq !== 0) throw invalid(change, 'channel.lastSeq of a new channel must be 0');
  await tx.insertChannel(channel);
}

async function channelUpdated(tx: StorageTx, change: Change, { channel }: Payload<'channel.updated'>): Promise<void> {
  checkChannel(change, channel);
  const stored = await tx.getChannel(channel.id);
  if (!stored) throw invalid(change, `channel ${channel.id} does not exist`);
  checkFixed(change, 'channel', stored, channel, CHANNEL_FIXED);
  if (stored.updatedAt > channel.updatedAt) return;
  // lastSeq moves with posts (post.created), which may already be applied past this update.
  await tx.updateChannel({ ...stored, description: channel.description, updatedAt: channel.updatedAt, lastSeq: Math.max(stored.lastSeq, channel.lastSeq) });
}

async function channelDeleted(tx: StorageTx, change: Change, payload: Payload<'channel.deleted'>): Promise<void> {
  const stored = await tx.getChannel(payload.id);
  if (!stored) return;
  if (stored.name !== payload.name) throw invalid(change, `channel ${payload.id} is named ${stored.name}, not ${payload.name}`);
  await tx.deleteChannel(payload.id);
}

async function postCreated(tx: StorageTx, change: Change, payload: Payload<'post.created'>): Promise<void> {
  const { post, channelName, idempotencyKey } = payload;
  checkPost(change, post);
  checkOrigin(change, post, 'post');
  if (idempotencyKey !== undefined) checked(change, 'idempotencyKey', () => checkIdempotencyKey(idempotencyKey));
  const existing = await tx.getPost(post.id);
  if (existing) return checkFixed(change, 'post', existing, post, POST_FIXED);
  const channel = await tx.getChannel(post.channelId);
  if (!channel) throw invalid(change, `channel ${post.channelId} does not exist`);
  if (channel.name !== channelName) throw invalid(change, `channel ${post.channelId} is named ${channel.name}, not ${channelName}`);
  // Posts of a channel are all created by its node, in seq order, and the log keeps that order.
  if (post.seq !== channel.lastSeq + 1) throw invalid(change, `post.seq ${post.seq} does not follow the channel's last seq ${channel.lastSeq}`);
  if (idempotencyKey !== undefined) {
    const earlier = await tx.getPostByIdempotencyKey(channel.id, idempotencyKey);
    if (earlier) throw invalid(change, `the idempotency key belongs to post ${earlier.id}`);
  }
  await tx.insertPost(post);
  await tx.updateChannel({ ...channel, lastSeq: post.seq });
  if (idempotencyKey !== undefined) await tx.insertIdempotencyKey(channel.id, idempotencyKey, post.id);
}

async function postChanged(tx: StorageTx, change: Change, post: Post, deleted: boolean): Promise<void> {
  checkPost(change, post);
  if (post.deleted !== deleted) throw invalid(change, `post.deleted must be ${String(deleted)} in ${change.type}`);
  if (!deleted && !post.edited) throw invalid(change, 'post.edited must be true in post.edited');
  const stored = await tx.getPost(post.id);
  if (!stored) throw invalid(change, `post ${post.id} does not exist`);
  checkFixed(change, 'post', stored, post, POST_FIXED);
  if (stored.deleted || stored.updatedAt > post.updatedAt) return;
  await tx.updatePost(post);
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
 * Makes the entity tables reflect `change` inside `tx`; applying it again is a no-op. Throws
 * CHANGE_UNSUPPORTED for a type or payload version this node does not know, CHANGE_INVALID for
 * a payload that is malformed or does not fit the stored state; the caller rolls back.
 */
export async function applyChange(tx: StorageTx, change: Change): Promise<void> {
  // `type` is typed, but a change from another node may carry anything there.
  const type: string = change.type;
  switch (change.type) {
    case 'channel.created':
      return channelCreated(tx, change, payloadOf(change, 'channel.created'));
    case 'channel.updated':
      return channelUpdated(tx, change, payloadOf(change, 'channel.updated'));
    case 'channel.deleted':
      return channelDeleted(tx, change, payloadOf(change, 'channel.deleted'));
    case 'post.created':
      return postCreated(tx, change, payloadOf(change, 'post.created'));
    case 'post.edited':
      return postChanged(tx, change, payloadOf(change, 'post.edited').post, false);
    case 'post.deleted':
      return postChanged(tx, change, payloadOf(change, 'post.deleted').post, true);
    case 'link.created':
      return linkCreated(tx, change, payloadOf(change, 'link.created'));
    case 'link.deleted':
      return linkDeleted(tx, change, payloadOf(change, 'link.deleted'));
    default:
      throw new MycelError(
        'CHANGE_UNSUPPORTED',
        { ...about(change), payloadVersion: change.payloadVersion },
        `change ${change.serial}: the type ${JSON.stringify(type)} is not known to this node`,
      );
  }
}
