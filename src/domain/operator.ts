import { MycelError } from '../errors.js';
import { newId } from '../lib/ids.js';
import type { Storage, StorageReader } from '../storage/storage.js';
import { authorOf, hasOwnerRights, type Actor } from './actor.js';
import { changeChannelNames } from './change-scope.js';
import { replicatedChannel, replicatedName } from './channel-names.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { authorize, authorizeChannel, canUseChannel, OPEN_CHANNEL_POLICY, type ChannelPolicy } from './permissions.js';
import type { Change, Channel, ClientNode, Link, Page, Post } from '../model/content.js';
import { channelPermitted } from './client-nodes.js';
import { parseForwardedOp, type ChangeRef, type ForwardedOp, type ForwardResult, type RemoteWrites } from './forwarded-writes.js';
import {
  checkAuthor,
  checkBlobRefs,
  checkBody,
  checkDescription,
  checkIdempotencyKey,
  checkLabel,
  checkLimit,
  checkMeta,
  parseChannelName,
} from './validation.js';
import { lastChangeRef, type UnitOfWork, type Writer } from './writer.js';
import { BlobRecords, type BlobInfo, type StoredBlobInput } from './blobs.js';
import type { BlobPin, BlobRecord } from '../model/content.js';

export interface CreatePostInput {
  /** The channel by id… */
  channelId?: string;
  /** …or by name. */
  channel?: string;
  body: string;
  meta?: Record<string, unknown>;
  blobRefs?: string[];
  /** With `channel` (a name): create the channel if it does not exist yet (realtime persisted publishes). */
  createChannel?: boolean;
  /**
   * Makes a retried write exactly-once: when the channel already holds a post written under this
   * key, that post is returned and nothing is written. Kept as long as the post.
   */
  idempotencyKey?: string;
  /** Opaque data about who published the post (a realtime client's info), kept with its stream event. */
  publisher?: unknown;
}

/** Checks, inside the write, that a forwarded op's client node may write the channel (by its local name). */
type ChannelGuard = (channelName: string) => void;

/** What a write did: its result, and the change that carried it (null when it wrote nothing new). */
interface Traced<T> {
  value: T;
  change: ChangeRef | null;
}

/** Inside a write: either done here, or the entity belongs to another node and the op goes there. */
type Local<T> = { local: true; value: T; change: ChangeRef | null } | { local: false; originNodeId: string };

export interface ListOptions {
  cursor?: string;
  limit?: number;
}

/**
 * The domain operations of a node. Transport-free: HTTP routes, realtime sessions, replication,
 * the CLI and tests all call these with an explicit actor. Every mutation goes through the
 * Writer: validate → authorize → one transaction (entity + change) → after commit, the hook.
 */
export class Operator {
  private remote: RemoteWrites | null = null;
  /** Blob records, access and pins (domain/blobs.ts). */
  readonly blobs: BlobRecords;

  constructor(
    private readonly storage: Storage,
    private readonly writer: Writer,
    private readonly policy: ChannelPolicy = OPEN_CHANNEL_POLICY,
  ) {
    this.blobs = new BlobRecords(storage, writer, policy);
  }

  // ---- blobs (docs/blobs.md) ----

  /** Records stored bytes once (first uploader kept); `blob.stored` goes to the change log. */
  recordBlob(actor: Actor, stored: StoredBlobInput, mediaType?: string | null): Promise<{ blob: BlobRecord; created: boolean }> {
    return this.blobs.record(actor, stored, mediaType);
  }

  /** The record by `sha256://`/`sha1://` URI (or short form, bare hex); BLOB_NOT_FOUND unless the actor may read it. */
  getBlob(actor: Actor, uriOrHex: string): Promise<BlobRecord> {
    return this.blobs.get(actor, uriOrHex);
  }

  getBlobInfo(actor: Actor, uriOrHex: string): Promise<BlobInfo> {
    return this.blobs.info(actor, uriOrHex);
  }

  listBlobs(actor: Actor, options: ListOptions = {}): Promise<Page<BlobRecord>> {
    return this.blobs.list(actor, options);
  }

  canReadBlob(actor: Actor, sha256: string): Promise<boolean> {
    return this.blobs.canRead(actor, sha256);
  }

  pinBlob(actor: Actor, uriOrHex: string): Promise<BlobPin> {
    return this.blobs.pin(actor, uriOrHex);
  }

  unpinBlob(actor: Actor, uriOrHex: string): Promise<boolean> {
    return this.blobs.unpin(actor, uriOrHex);
  }

  /**
   * Where writes to entities of other nodes go (the network's forwarder); null: nowhere, such
   * writes fail with NOT_CONNECTED_TO_ORIGIN. Never are they committed here: one writer per entity.
   */
  setRemoteWrites(remote: RemoteWrites | null): void {
    this.remote = remote;
  }

  // ---- channels ----

  async createChannel(actor: Actor, input: { name: string; description?: string }): Promise<Channel> {
    authorize(actor, 'channel.manage');
    const { name, namespace } = parseChannelName(input.name);
    const description = checkDescription(input.description);
    return this.writer.run(async (unit) => {
      if (await unit.tx.getChannelByName(name)) throw new MycelError('CHANNEL_EXISTS', { name });
      return this.insertChannel(unit, name, namespace, description);
    });
  }

  async updateChannel(actor: Actor, id: string, input: { description?: string }): Promise<Channel> {
    return (await this.updateChannelTraced(actor, id, input)).value;
  }

  private async updateChannelTraced(actor: Actor, id: string, input: { description?: string }, guard?: ChannelGuard): Promise<Traced<Channel>> {
    authorize(actor, 'channel.manage');
    const description = input.description === undefined ? undefined : checkDescription(input.description);
    const done = await this.writer.run(async (unit): Promise<Local<Channel>> => {
      const channel = await this.requireChannel(unit.tx, id);
      guard?.(channel.name);
      if (channel.originNodeId !== unit.nodeId) return { local: false, originNodeId: channel.originNodeId };
      const updated: Channel = { ...channel, description: description ?? channel.description, updatedAt: unit.now };
      await unit.tx.updateChannel(updated);
      await unit.append('channel.updated', { channel: replicatedChannel(updated) });
      return { local: true, value: updated, change: lastChangeRef(unit) };
    });
    if (done.local) return done;
    const result = await this.forward(done.originNodeId, { v: 1, type: 'channel.update', channelId: id, ...(description === undefined ? {} : { description }) }, actor);
    return { value: await this.requireChannel(this.storage, id), change: result.change };
  }

  async deleteChannel(actor: Actor, id: string): Promise<void> {
    await this.deleteChannelTraced(actor, id);
  }

  private async deleteChannelTraced(actor: Actor, id: string, guard?: ChannelGuard): Promise<Traced<null>> {
    authorize(actor, 'channel.manage');
    const done = await this.writer.run(async (unit): Promise<Local<null>> => {
      const channel = await this.requireChannel(unit.tx, id);
      guard?.(channel.name);
      if (channel.originNodeId !== unit.nodeId) return { local: false, originNodeId: channel.originNodeId };
      await unit.tx.deleteChannel(id);
      await unit.append('channel.deleted', { id: channel.id, name: replicatedName(channel) });
      return { local: true, value: null, change: lastChangeRef(unit) };
    });
    if (done.local) return done;
    const result = await this.forward(done.originNodeId, { v: 1, type: 'channel.delete', channelId: id }, actor);
    return { value: null, change: result.change };
  }

  async getChannel(actor: Actor, idOrName: string): Promise<Channel> {
    authorize(actor, 'content.read');
    const channel = (await this.storage.getChannel(idOrName)) ?? (await this.storage.getChannelByName(idOrName));
    if (!channel) throw new MycelError('CHANNEL_NOT_FOUND', { channel: idOrName });
    authorizeChannel(this.policy, actor, 'read', channel.name);
    return channel;
  }

  /** Channels in creation order; with `name`, the page holds that channel or nothing. */
  async listChannels(actor: Actor, options: ListOptions & { name?: string } = {}): Promise<Page<Channel>> {
    authorize(actor, 'content.read');
    const limit = checkLimit(options.limit);
    if (options.name !== undefined) {
      const { name } = parseChannelName(options.name);
      const channel = await this.storage.getChannelByName(name);
      // A channel the actor may not read is absent, as it is from the full list.
      const visible = channel !== null && (actor.kind !== 'user' || this.policy.allows(actor.userId, 'read', channel.name));
      return { items: visible ? [channel] : [], nextCursor: null };
    }
    const after = options.cursor ? decodeCursor(options.cursor, { t: 'number', id: 'string' }) : undefined;
    const rows = await this.storage.listChannels({
      limit: limit + 1,
      ...(after ? { after: { createdAt: after.t as number, id: after.id as string } } : {}),
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    // A user sees only the channels it may read; a page may then be shorter than `limit`.
    const items = actor.kind === 'user' ? page.filter((c) => this.policy.allows(actor.userId, 'read', c.name)) : page;
    return { items, nextCursor: rows.length > limit && last ? encodeCursor({ t: last.createdAt, id: last.id }) : null };
  }

  // ---- posts ----

  async createPost(actor: Actor, input: CreatePostInput): Promise<Post> {
    return (await this.createPostAt(actor, input)).post;
  }

  /**
   * createPost, also answering the offset of the post's creation in its channel's event stream
   * (for a repeated idempotency key: the first write's post and offset).
   */
  async createPostAt(actor: Actor, input: CreatePostInput): Promise<{ post: Post; offset: number }> {
    return (await this.createPostTraced(actor, input)).value;
  }

  private async createPostTraced(actor: Actor, input: CreatePostInput, guard?: ChannelGuard): Promise<Traced<{ post: Post; offset: number }>> {
    authorize(actor, 'post.create');
    const body = checkBody(input.body);
    const meta = checkMeta(input.meta);
    const blobRefs = checkBlobRefs(input.blobRefs);
    const author = checkAuthor(authorOf(actor));
    const idempotencyKey = checkIdempotencyKey(input.idempotencyKey);
    const byName = input.channelId === undefined ? parseChannelName(input.channel) : undefined;
    const done = await this.writer.run(async (unit): Promise<Local<{ post: Post; offset: number }> & { channelId?: string }> => {
      let channel = byName ? await unit.tx.getChannelByName(byName.name) : await unit.tx.getChannel(input.channelId!);
      if (!channel && byName && input.createChannel) {
        authorizeChannel(this.policy, actor, 'write', byName.name);
        guard?.(byName.name);
        channel = await this.insertChannel(unit, byName.name, byName.namespace, '');
      }
      if (!channel) {
        // A user may not learn (or create) channels outside its policy: refuse before anything else.
        if (byName) authorizeChannel(this.policy, actor, 'write', byName.name);
        throw new MycelError('CHANNEL_NOT_FOUND', { channel: input.channelId ?? input.channel });
      }
      authorizeChannel(this.policy, actor, 'write', channel.name);
      guard?.(channel.name);
      if (idempotencyKey !== undefined) {
        // Under the change-log lock, so a concurrent retry (another instance too) sees this one.
        // A post forwarded to the channel's origin comes back with its key, so a retry here finds it too.
        const earlier = await unit.tx.getPostByIdempotencyKey(channel.id, idempotencyKey);
        if (earlier) return { local: true, value: { post: earlier, offset: (await unit.tx.getPostStreamOffset(earlier.id)) ?? earlier.seq }, change: null };
      }
      // A post changes its channel (lastSeq): only the channel's origin creates posts in it.
      if (channel.originNodeId !== unit.nodeId) return { local: false, originNodeId: channel.originNodeId, channelId: channel.id };
      const post: Post = {
        id: newId(),
        channelId: channel.id,
        seq: channel.lastSeq + 1,
        author,
        body,
        meta,
        blobRefs,
        originNodeId: unit.nodeId,
        createdAt: unit.now,
        updatedAt: unit.now,
        edited: false,
        deleted: false,
      };
      await unit.tx.insertPost(post);
      await unit.tx.updateChannel({ ...channel, lastSeq: post.seq });
      if (idempotencyKey === undefined) {
        await unit.append('post.created', { post, channelName: replicatedName(channel) });
      } else {
        await unit.tx.insertIdempotencyKey(channel.id, idempotencyKey, post.id);
        await unit.append('post.created', { post, channelName: replicatedName(channel), idempotencyKey });
      }
      const change = lastChangeRef(unit);
      const offset = await unit.appendStreamEvent(channel.name, post, input.publisher ?? null);
      return { local: true, value: { post, offset }, change };
    });
    if (done.local) return done;
    const op: ForwardedOp = { v: 1, type: 'post.create', channelId: done.channelId!, body, meta, blobRefs, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) };
    const result = await this.forward(done.originNodeId, op, actor);
    const post = await this.importedPost(result);
    return { value: { post, offset: (await this.storage.getPostStreamOffset(post.id)) ?? post.seq }, change: result.change };
  }

  async editPost(actor: Actor, id: string, input: { body?: string; meta?: Record<string, unknown> }): Promise<Post> {
    return (await this.editPostTraced(actor, id, input)).value;
  }

  private async editPostTraced(actor: Actor, id: string, input: { body?: string; meta?: Record<string, unknown> }, guard?: ChannelGuard): Promise<Traced<Post>> {
    const body = input.body === undefined ? undefined : checkBody(input.body);
    const meta = input.meta === undefined ? undefined : checkMeta(input.meta);
    if (body === undefined && meta === undefined) {
      throw new MycelError('VALIDATION_FAILED', { field: 'body', reason: 'give body, meta or both' }, 'give body, meta or both');
    }
    const done = await this.writer.run(async (unit): Promise<Local<Post>> => {
      const post = await this.requirePost(unit.tx, id);
      if (guard) guard(await this.channelName(unit, post));
      authorize(actor, 'post.modify', { post });
      await this.authorizePostChannel(unit.tx, actor, 'write', post);
      if (post.deleted) throw new MycelError('POST_DELETED', { id });
      if (post.originNodeId !== unit.nodeId) return { local: false, originNodeId: post.originNodeId };
      const edited: Post = { ...post, body: body ?? post.body, meta: meta ?? post.meta, edited: true, updatedAt: unit.now };
      await unit.tx.updatePost(edited);
      await unit.append('post.edited', { post: edited });
      const change = lastChangeRef(unit);
      await unit.appendStreamEvent(await this.channelName(unit, post), edited);
      return { local: true, value: edited, change };
    });
    if (done.local) return done;
    const result = await this.forward(done.originNodeId, { v: 1, type: 'post.edit', postId: id, ...(body === undefined ? {} : { body }), ...(meta === undefined ? {} : { meta }) }, actor);
    return { value: await this.importedPost(result, id), change: result.change };
  }

  async deletePost(actor: Actor, id: string): Promise<Post> {
    return (await this.deletePostTraced(actor, id)).value;
  }

  private async deletePostTraced(actor: Actor, id: string, guard?: ChannelGuard): Promise<Traced<Post>> {
    const done = await this.writer.run(async (unit): Promise<Local<Post>> => {
      const post = await this.requirePost(unit.tx, id);
      if (guard) guard(await this.channelName(unit, post));
      authorize(actor, 'post.modify', { post });
      await this.authorizePostChannel(unit.tx, actor, 'write', post);
      if (post.deleted) throw new MycelError('POST_DELETED', { id });
      if (post.originNodeId !== unit.nodeId) return { local: false, originNodeId: post.originNodeId };
      const tombstone: Post = { ...post, body: '', meta: {}, blobRefs: [], deleted: true, updatedAt: unit.now };
      await unit.tx.updatePost(tombstone);
      await unit.append('post.deleted', { post: tombstone });
      const change = lastChangeRef(unit);
      await unit.appendStreamEvent(await this.channelName(unit, post), tombstone);
      return { local: true, value: tombstone, change };
    });
    if (done.local) return done;
    const result = await this.forward(done.originNodeId, { v: 1, type: 'post.delete', postId: id }, actor);
    return { value: await this.importedPost(result, id), change: result.change };
  }

  // ---- forwarded writes (the origin's side) ----

  /**
   * Runs a write that client node `nodeId` forwarded to this node, as that node: its
   * registration must be read-write (NODE_READ_ONLY) and cover the channel (by its name here;
   * CHANNEL_NOT_PERMITTED), and the node's own rights apply (a post it did not write, or a
   * channel, needs owner rights). If the entity's origin is yet another node, the write goes on
   * there. Answers the change that carried it, which the caller waits to import.
   */
  async executeForwarded(nodeId: string, raw: unknown): Promise<ForwardResult> {
    const op = parseForwardedOp(raw);
    const registration: ClientNode | null = await this.storage.getClientNode(nodeId.toLowerCase());
    if (!registration) throw new MycelError('NODE_READ_ONLY', { nodeId, reason: 'not registered here' }, 'This node is not registered here as a client node, so it may not write');
    if (registration.writeAccess !== 'read-write') throw new MycelError('NODE_READ_ONLY', { nodeId });
    const actor: Actor = { kind: 'node', nodeId: registration.id, asOwner: registration.asOwner, writes: true };
    const guard: ChannelGuard = (channelName) => {
      if (!channelPermitted(registration.channels, channelName)) throw new MycelError('CHANNEL_NOT_PERMITTED', { nodeId: registration.id, channel: channelName });
    };
    switch (op.type) {
      case 'post.create': {
        const { value, change } = await this.createPostTraced(
          actor,
          { channelId: op.channelId, body: op.body, meta: op.meta, blobRefs: op.blobRefs, ...(op.idempotencyKey === undefined ? {} : { idempotencyKey: op.idempotencyKey }) },
          guard,
        );
        return { change, entity: value.post };
      }
      case 'post.edit': {
        const { value, change } = await this.editPostTraced(actor, op.postId, { ...(op.body === undefined ? {} : { body: op.body }), ...(op.meta === undefined ? {} : { meta: op.meta }) }, guard);
        return { change, entity: value };
      }
      case 'post.delete': {
        const { value, change } = await this.deletePostTraced(actor, op.postId, guard);
        return { change, entity: value };
      }
      case 'channel.update': {
        const { value, change } = await this.updateChannelTraced(actor, op.channelId, op.description === undefined ? {} : { description: op.description }, guard);
        return { change, entity: value };
      }
      case 'channel.delete': {
        const { change } = await this.deleteChannelTraced(actor, op.channelId, guard);
        return { change, entity: null };
      }
    }
  }

  private forward(originNodeId: string, op: ForwardedOp, actor: Actor): Promise<ForwardResult> {
    if (!this.remote) return Promise.reject(new MycelError('NOT_CONNECTED_TO_ORIGIN', { originNodeId }));
    return this.remote.forward(originNodeId, op, actor);
  }

  /** This node's copy of the post a forwarded write answered with (imported before `forward` resolved). */
  private async importedPost(result: ForwardResult, id = result.entity?.id): Promise<Post> {
    const post = id === undefined ? null : await this.storage.getPost(id);
    // RemoteWrites resolves only after the import, so this is a broken promise of the network layer.
    if (!post) throw new Error(`forwarded write: post ${String(id)} is not here after its change was imported`);
    return post;
  }

  async getPost(actor: Actor, id: string): Promise<Post> {
    authorize(actor, 'content.read');
    const post = await this.requirePost(this.storage, id);
    await this.authorizePostChannel(this.storage, actor, 'read', post);
    return post;
  }

  /** Posts of a channel in seq order; the cursor continues after the last one returned. */
  async listPosts(actor: Actor, channelId: string, options: ListOptions & { reverse?: boolean } = {}): Promise<Page<Post>> {
    authorize(actor, 'content.read');
    const limit = checkLimit(options.limit);
    const channel = await this.requireChannel(this.storage, channelId);
    authorizeChannel(this.policy, actor, 'read', channel.name);
    const at = options.cursor ? (decodeCursor(options.cursor, { seq: 'number' }).seq as number) : undefined;
    const rows = await this.storage.listPosts(channelId, {
      limit: limit + 1,
      reverse: options.reverse === true,
      ...(at === undefined ? {} : options.reverse ? { beforeSeq: at } : { afterSeq: at }),
    });
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor({ seq: last.seq }) : null };
  }

  // ---- links ----
  // A user sees and makes only links whose both ends it may read: a link to a post in a channel
  // it may not read would leak that post's id and the link's label. A link the user cannot
  // fully see does not exist for it (LINK_NOT_FOUND; lists leave it out), and a post it may
  // not read is answered like one that does not exist (POST_NOT_FOUND), so neither is an oracle.

  async createLink(actor: Actor, input: { fromPostId: string; toPostId: string; label?: string }): Promise<Link> {
    const label = checkLabel(input.label);
    return this.writer.run(async (unit) => {
      const readable = this.readablePosts(unit.tx, actor);
      const from = await readable.post(input.fromPostId);
      if (!from) throw new MycelError('POST_NOT_FOUND', { id: input.fromPostId });
      if (!(await readable.post(input.toPostId))) throw new MycelError('POST_NOT_FOUND', { id: input.toPostId });
      authorize(actor, 'link.create', { post: from });
      await this.authorizePostChannel(unit.tx, actor, 'write', from);
      if (await unit.tx.findLink(input.fromPostId, input.toPostId, label)) {
        throw new MycelError('LINK_EXISTS', { fromPostId: input.fromPostId, toPostId: input.toPostId, label });
      }
      const link: Link = { id: newId(), fromPostId: input.fromPostId, toPostId: input.toPostId, label, originNodeId: unit.nodeId, createdAt: unit.now };
      await unit.tx.insertLink(link);
      await unit.append('link.created', { link });
      return link;
    });
  }

  async deleteLink(actor: Actor, id: string): Promise<void> {
    return this.writer.run(async (unit) => {
      const link = await unit.tx.getLink(id);
      const from = link ? await this.readablePosts(unit.tx, actor).linkSource(link) : null;
      if (!link || !from) throw new MycelError('LINK_NOT_FOUND', { id });
      authorize(actor, 'link.delete', { post: from });
      await this.authorizePostChannel(unit.tx, actor, 'write', from);
      await unit.tx.deleteLink(id);
      await unit.append('link.deleted', { id, fromPostId: link.fromPostId, toPostId: link.toPostId });
    });
  }

  async getLink(actor: Actor, id: string): Promise<Link> {
    authorize(actor, 'content.read');
    const link = await this.storage.getLink(id);
    if (!link || !(await this.readablePosts(this.storage, actor).linkSource(link))) throw new MycelError('LINK_NOT_FOUND', { id });
    return link;
  }

  /** Links from or to a post, leaving out those whose other end the actor may not read. */
  async listLinks(actor: Actor, postId: string): Promise<Link[]> {
    authorize(actor, 'content.read');
    const post = await this.requirePost(this.storage, postId);
    await this.authorizePostChannel(this.storage, actor, 'read', post);
    const links = await this.storage.listLinks(postId);
    if (actor.kind !== 'user') return links;
    const readable = this.readablePosts(this.storage, actor);
    const visible: Link[] = [];
    for (const link of links) if (await readable.linkSource(link)) visible.push(link);
    return visible;
  }

  // ---- change log ----

  /**
   * Changes from serial `from` (inclusive): `limit` serials of the log are read; `next` is where
   * to continue. Owner-equivalent actors see every change. A user sees the changes whose
   * channels it may read (every channel a change touches, by `changeChannelNames`; a change
   * whose channel is gone is not shown), so a user's page may be shorter than `limit`, or
   * empty while the log goes on. Other nodes pull over their link: FORBIDDEN here.
   */
  async getChanges(actor: Actor, options: { from?: number; limit?: number } = {}): Promise<{ changes: Change[]; next: number; full: boolean }> {
    if (!hasOwnerRights(actor) && actor.kind !== 'user') authorize(actor, 'changes.read');
    const from = options.from ?? 1;
    if (!Number.isSafeInteger(from) || from < 1) throw new MycelError('VALIDATION_FAILED', { field: 'from', reason: 'must be an integer >= 1' }, 'from: must be an integer >= 1');
    const limit = checkLimit(options.limit);
    const changes = await this.storage.getChanges(from, limit);
    const last = changes[changes.length - 1];
    const next = last ? last.serial + 1 : from;
    if (actor.kind !== 'user') return { changes, next, full: changes.length === limit };
    const visible: Change[] = [];
    const readable = new Map<string, boolean>();
    const channelNames = new Map<string, string | null>();
    for (const change of changes) {
      const names = await changeChannelNames(this.storage, change, channelNames);
      // A link shows both posts' ids: both ends must still be there to be judged.
      let ok = names.length > 0 && (!change.type.startsWith('link.') || (await this.linkEndsExist(change)));
      for (const name of names) {
        let allowed = readable.get(name);
        if (allowed === undefined) readable.set(name, (allowed = this.policy.allows(actor.userId, 'read', name)));
        ok &&= allowed;
      }
      if (ok) visible.push(change);
    }
    return { changes: visible, next, full: changes.length === limit };
  }

  // ---- helpers ----

  private async linkEndsExist(change: Change): Promise<boolean> {
    const p = change.payload as { link?: { fromPostId?: unknown; toPostId?: unknown }; fromPostId?: unknown; toPostId?: unknown };
    const ends = p.link ?? p;
    for (const id of [ends.fromPostId, ends.toPostId]) if (typeof id !== 'string' || !(await this.storage.getPost(id))) return false;
    return true;
  }
  // Change payloads carry a channel's replicated name (channel-names.ts); rows and stream
  // events its local one.

  private async insertChannel(unit: UnitOfWork, name: string, namespace: string, description: string): Promise<Channel> {
    const channel: Channel = {
      id: newId(),
      name,
      namespace,
      description,
      originNodeId: unit.nodeId,
      createdAt: unit.now,
      updatedAt: unit.now,
      lastSeq: 0,
    };
    await unit.tx.insertChannel(channel);
    await unit.append('channel.created', { channel });
    return channel;
  }

  /**
   * Looks posts up as `actor` sees them: a post in a channel the actor may not read is null, as
   * if it did not exist. Channel rights are looked up once per channel.
   */
  private readablePosts(reader: StorageReader, actor: Actor): { post(id: string): Promise<Post | null>; linkSource(link: Link): Promise<Post | null> } {
    const rights = new Map<string, boolean>();
    const post = async (id: string): Promise<Post | null> => {
      const found = await reader.getPost(id);
      if (!found || actor.kind !== 'user') return found;
      let allowed = rights.get(found.channelId);
      if (allowed === undefined) {
        const channel = await reader.getChannel(found.channelId);
        allowed = channel !== null && canUseChannel(this.policy, actor, 'read', channel.name);
        rights.set(found.channelId, allowed);
      }
      return allowed ? found : null;
    };
    return {
      post,
      /** The link's source post when the actor may read both ends, else null. */
      async linkSource(link) {
        const from = await post(link.fromPostId);
        return from && (await post(link.toPostId)) ? from : null;
      },
    };
  }

  /** Checks the channel policy for a user acting on a post (owner-equivalent actors pass). */
  private async authorizePostChannel(reader: StorageReader, actor: Actor, action: 'read' | 'write', post: Post): Promise<void> {
    if (actor.kind !== 'user') return;
    const channel = await reader.getChannel(post.channelId);
    authorizeChannel(this.policy, actor, action, channel?.name ?? '');
  }

  private async requireChannel(reader: StorageReader, id: string): Promise<Channel> {
    const channel = await reader.getChannel(id);
    if (!channel) throw new MycelError('CHANNEL_NOT_FOUND', { id });
    return channel;
  }

  private async channelName(unit: UnitOfWork, post: Post): Promise<string> {
    return (await this.requireChannel(unit.tx, post.channelId)).name;
  }

  private async requirePost(reader: StorageReader, id: string): Promise<Post> {
    const post = await reader.getPost(id);
    if (!post) throw new MycelError('POST_NOT_FOUND', { id });
    return post;
  }
}
