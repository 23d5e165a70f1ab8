import { MycelError } from '../errors.js';
import { newId } from '../lib/ids.js';
import type { Storage, StorageReader } from '../storage/storage.js';
import { authorOf, type Actor } from './actor.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { authorize, authorizeChannel, canUseChannel, OPEN_CHANNEL_POLICY, type ChannelPolicy } from './permissions.js';
import type { Change, Channel, Link, Page, Post } from '../model/content.js';
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
import type { UnitOfWork, Writer } from './writer.js';

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
  constructor(
    private readonly storage: Storage,
    private readonly writer: Writer,
    private readonly policy: ChannelPolicy = OPEN_CHANNEL_POLICY,
  ) {}

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
    authorize(actor, 'channel.manage');
    const description = input.description === undefined ? undefined : checkDescription(input.description);
    return this.writer.run(async (unit) => {
      const channel = await this.requireChannel(unit.tx, id);
      const updated: Channel = { ...channel, description: description ?? channel.description, updatedAt: unit.now };
      await unit.tx.updateChannel(updated);
      await unit.append('channel.updated', { channel: updated });
      return updated;
    });
  }

  async deleteChannel(actor: Actor, id: string): Promise<void> {
    authorize(actor, 'channel.manage');
    return this.writer.run(async (unit) => {
      const channel = await this.requireChannel(unit.tx, id);
      await unit.tx.deleteChannel(id);
      await unit.append('channel.deleted', { id: channel.id, name: channel.name });
    });
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
    authorize(actor, 'post.create');
    const body = checkBody(input.body);
    const meta = checkMeta(input.meta);
    const blobRefs = checkBlobRefs(input.blobRefs);
    const author = checkAuthor(authorOf(actor));
    const idempotencyKey = checkIdempotencyKey(input.idempotencyKey);
    const byName = input.channelId === undefined ? parseChannelName(input.channel) : undefined;
    return this.writer.run(async (unit) => {
      let channel = byName ? await unit.tx.getChannelByName(byName.name) : await unit.tx.getChannel(input.channelId!);
      if (!channel && byName && input.createChannel) {
        authorizeChannel(this.policy, actor, 'write', byName.name);
        channel = await this.insertChannel(unit, byName.name, byName.namespace, '');
      }
      if (!channel) {
        // A user may not learn (or create) channels outside its policy: refuse before anything else.
        if (byName) authorizeChannel(this.policy, actor, 'write', byName.name);
        throw new MycelError('CHANNEL_NOT_FOUND', { channel: input.channelId ?? input.channel });
      }
      authorizeChannel(this.policy, actor, 'write', channel.name);
      if (idempotencyKey !== undefined) {
        // Under the change-log lock, so a concurrent retry (another instance too) sees this one.
        const earlier = await unit.tx.getPostByIdempotencyKey(channel.id, idempotencyKey);
        if (earlier) return { post: earlier, offset: (await unit.tx.getPostStreamOffset(earlier.id)) ?? earlier.seq };
      }
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
        await unit.append('post.created', { post, channelName: channel.name });
      } else {
        await unit.tx.insertIdempotencyKey(channel.id, idempotencyKey, post.id);
        await unit.append('post.created', { post, channelName: channel.name, idempotencyKey });
      }
      const offset = await unit.appendStreamEvent(channel.name, post, input.publisher ?? null);
      return { post, offset };
    });
  }

  async editPost(actor: Actor, id: string, input: { body?: string; meta?: Record<string, unknown> }): Promise<Post> {
    const body = input.body === undefined ? undefined : checkBody(input.body);
    const meta = input.meta === undefined ? undefined : checkMeta(input.meta);
    if (body === undefined && meta === undefined) {
      throw new MycelError('VALIDATION_FAILED', { field: 'body', reason: 'give body, meta or both' }, 'give body, meta or both');
    }
    return this.writer.run(async (unit) => {
      const post = await this.requirePost(unit.tx, id);
      authorize(actor, 'post.modify', { post });
      await this.authorizePostChannel(unit.tx, actor, 'write', post);
      if (post.deleted) throw new MycelError('POST_DELETED', { id });
      const edited: Post = { ...post, body: body ?? post.body, meta: meta ?? post.meta, edited: true, updatedAt: unit.now };
      await unit.tx.updatePost(edited);
      await unit.append('post.edited', { post: edited });
      await unit.appendStreamEvent(await this.channelName(unit, post), edited);
      return edited;
    });
  }

  async deletePost(actor: Actor, id: string): Promise<Post> {
    return this.writer.run(async (unit) => {
      const post = await this.requirePost(unit.tx, id);
      authorize(actor, 'post.modify', { post });
      await this.authorizePostChannel(unit.tx, actor, 'write', post);
      if (post.deleted) throw new MycelError('POST_DELETED', { id });
      const tombstone: Post = { ...post, body: '', meta: {}, blobRefs: [], deleted: true, updatedAt: unit.now };
      await unit.tx.updatePost(tombstone);
      await unit.append('post.deleted', { post: tombstone });
      await unit.appendStreamEvent(await this.channelName(unit, post), tombstone);
      return tombstone;
    });
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

  /** Changes from serial `from` (inclusive), at most `limit`; `next` is where to continue. */
  async getChanges(actor: Actor, options: { from?: number; limit?: number } = {}): Promise<{ changes: Change[]; next: number }> {
    authorize(actor, 'changes.read');
    const from = options.from ?? 1;
    if (!Number.isSafeInteger(from) || from < 1) throw new MycelError('VALIDATION_FAILED', { field: 'from', reason: 'must be an integer >= 1' }, 'from: must be an integer >= 1');
    const limit = checkLimit(options.limit);
    const changes = await this.storage.getChanges(from, limit);
    const last = changes[changes.length - 1];
    return { changes, next: last ? last.serial + 1 : from };
  }

  // ---- helpers ----

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
