/**
 * Persisted namespaces on the real domain: a publication becomes a post through the Operator
 * (one transaction, change log, after-commit hook), and the commit hook fans committed posts
 * out through `RealtimeNode.deliverCommitted`. History and recovery read the posts.
 *
 * Publication data ⇄ post: a client publishes `{"body": string, "meta"?: object, "blobRefs"?:
 * string[]}` (or a bare string as the body); subscribers receive the committed post as the
 * publication's data, with offset = post.seq and epoch = the channel's id.
 */
import { OWNER, SYSTEM, type Actor } from '../domain/actor.js';
import type { CommitHook } from '../domain/commit-hook.js';
import type { Operator } from '../domain/operator.js';
import type { Change, Post } from '../model/content.js';
import { isMycelError } from '../errors.js';
import type { StorageReader } from '../storage/storage.js';
import type { Namespaces } from './namespaces.js';
import type { PersistActor, Persistence, PersistRequest } from './persist.js';
import { ERRORS, ReplyError } from './protocol/codes.js';
import { epochMatches, type HistoryQuery, type HistoryResult, type Publication, type StreamPosition } from './types.js';

/** The most posts one history read returns (the storage page limit). */
const MAX_READ = 1000;

export interface DomainPersistenceDeps {
  operator: Operator;
  storage: StorageReader;
  hook: CommitHook;
  namespaces: Namespaces;
}

/** The part of RealtimeNode the commit listener needs. */
export interface CommittedSink {
  deliverCommitted(channel: string, publication: Publication, epoch: string): Promise<void>;
}

export function postPublication(post: Post): Publication {
  return { offset: post.seq, data: post, time: post.createdAt };
}

function toActor(actor: PersistActor): Actor {
  if (actor.kind === 'server') return SYSTEM;
  if (actor.owner) return OWNER;
  if (actor.user === '') throw new ReplyError(ERRORS.permissionDenied, 'anonymous clients cannot write posts');
  return { kind: 'user', userId: actor.user };
}

function toPostInput(data: unknown): { body: string; meta?: Record<string, unknown>; blobRefs?: string[] } {
  if (typeof data === 'string') return { body: data };
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
    const d = data as Record<string, unknown>;
    if (typeof d.body === 'string') {
      const out: { body: string; meta?: Record<string, unknown>; blobRefs?: string[] } = { body: d.body };
      if (d.meta !== undefined) out.meta = d.meta as Record<string, unknown>;
      if (d.blobRefs !== undefined) out.blobRefs = d.blobRefs as string[];
      return out;
    }
  }
  throw new ReplyError(ERRORS.badRequest, 'a publication in a persisted namespace is a post: {"body": string, "meta"?: object}');
}

export class DomainPersistence implements Persistence {
  readonly #deps: DomainPersistenceDeps;

  constructor(deps: DomainPersistenceDeps) {
    this.#deps = deps;
  }

  /** Starts fanning committed posts out to `sink`; returns the function that stops it. */
  attach(sink: CommittedSink): () => void {
    return this.#deps.hook.on((changes: readonly Change[]) => {
      for (const change of changes) {
        if (change.type !== 'post.created') continue;
        const post = change.payload.post as Post | undefined;
        const channel = change.payload.channelName;
        if (!post || typeof channel !== 'string') continue;
        const resolved = this.#deps.namespaces.tryResolve(channel);
        if (typeof resolved === 'string' || !resolved.options.persist) continue;
        void sink.deliverCommitted(channel, postPublication(post), post.channelId);
      }
    });
  }

  async persist(request: PersistRequest): Promise<StreamPosition> {
    const actor = toActor(request.actor);
    const input = toPostInput(request.data);
    try {
      const post = await this.#deps.operator.createPost(actor, {
        channel: request.channel,
        createChannel: true,
        ...input,
        ...(request.idempotencyKey !== undefined ? { idempotencyKey: request.idempotencyKey } : {}),
      });
      return { offset: post.seq, epoch: post.channelId };
    } catch (err) {
      if (isMycelError(err)) {
        if (err.code === 'VALIDATION_FAILED') throw new ReplyError(ERRORS.badRequest, err.message);
        if (err.code === 'FORBIDDEN') throw new ReplyError(ERRORS.permissionDenied);
        if (err.code === 'CHANNEL_NOT_FOUND') throw new ReplyError(ERRORS.unknownChannel);
      }
      throw err;
    }
  }

  /**
   * Posts as history. The kept window is the last `historySize` posts of the namespace
   * (all posts when historySize is 0), as a history store would keep them.
   */
  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    const row = await this.#deps.storage.getChannelByName(channel);
    if (!row) return { publications: [], position: { offset: 0, epoch: '' } };
    const position = { offset: row.lastSeq, epoch: row.id };
    const { limit, since, reverse } = query;
    if (limit === 0) return { publications: [], position };
    if (since && !epochMatches(since.epoch, row.id)) return { publications: [], position };
    const resolved = this.#deps.namespaces.tryResolve(channel);
    const size = typeof resolved === 'string' ? 0 : resolved.options.historySize;
    const windowStart = size > 0 ? Math.max(0, row.lastSeq - size) : 0;
    const count = Math.min(limit < 0 ? MAX_READ : limit, MAX_READ);
    let posts: Post[];
    if (reverse) {
      const before = since ? since.offset : row.lastSeq + 1;
      posts = (await this.#deps.storage.listPosts(row.id, { beforeSeq: before, limit: count, reverse: true })).filter((p) => p.seq > windowStart);
    } else {
      const after = Math.max(windowStart, since ? since.offset : windowStart);
      posts = await this.#deps.storage.listPosts(row.id, { afterSeq: after, limit: count });
    }
    return { publications: posts.map(postPublication), position };
  }
}
