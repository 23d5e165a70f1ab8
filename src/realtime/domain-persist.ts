/**
 * Persisted namespaces on the real domain: a publication becomes a post through the Operator
 * (one transaction, change log, stream event, after-commit hook), and the commit hook fans each
 * committed stream event (a post's creation, edit or delete, whoever wrote it) out through
 * `RealtimeNode.deliverCommitted`. History and recovery read the stream events.
 *
 * Publication data ⇄ post: a client publishes `{"body": string, "meta"?: object, "blobRefs"?:
 * string[]}` (or a bare string as the body); subscribers receive the post as the event left it
 * as the publication's data (`edited` / `deleted` tell an edit or a delete from a creation),
 * with offset = the event's offset in the channel's stream and epoch = the channel's id.
 */
import { OWNER, SYSTEM, type Actor } from '../domain/actor.js';
import type { CommitHook } from '../domain/commit-hook.js';
import type { Operator } from '../domain/operator.js';
import { isMycelError } from '../errors.js';
import type { StorageReader, StreamEvent } from '../storage/storage.js';
import type { Namespaces } from './namespaces.js';
import type { PersistActor, Persistence, PersistRequest } from './persist.js';
import { ERRORS, ReplyError } from './protocol/codes.js';
import { epochMatches, type ClientInfo, type HistoryQuery, type HistoryResult, type Publication, type StreamPosition } from './types.js';

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

/** A stream event as a publication: the post as data, at the event's offset and time, with the publisher's info. */
export function eventPublication(event: StreamEvent): Publication {
  const publication: Publication = { offset: event.offset, data: event.post, time: event.post.updatedAt };
  if (isClientInfo(event.publisher)) publication.info = event.publisher;
  return publication;
}

function isClientInfo(v: unknown): v is ClientInfo {
  if (typeof v !== 'object' || v === null) return false;
  const info = v as Record<string, unknown>;
  return typeof info.client === 'string' && typeof info.user === 'string';
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
    return this.#deps.hook.on((_changes, streamEvents) => {
      for (const { channel, event } of streamEvents) {
        const resolved = this.#deps.namespaces.tryResolve(channel);
        if (typeof resolved === 'string' || !resolved.options.persist) continue;
        void sink.deliverCommitted(channel, eventPublication(event), event.post.channelId);
      }
    });
  }

  async persist(request: PersistRequest): Promise<StreamPosition> {
    const actor = toActor(request.actor);
    const input = toPostInput(request.data);
    try {
      const { post, offset } = await this.#deps.operator.createPostAt(actor, {
        channel: request.channel,
        createChannel: true,
        ...input,
        ...(request.info ? { publisher: request.info } : {}),
        ...(request.idempotencyKey !== undefined ? { idempotencyKey: request.idempotencyKey } : {}),
      });
      return { offset, epoch: post.channelId };
    } catch (err) {
      if (isMycelError(err)) {
        if (err.code === 'VALIDATION_FAILED') throw new ReplyError(ERRORS.badRequest, err.message);
        if (err.code === 'FORBIDDEN') throw new ReplyError(ERRORS.permissionDenied);
        if (err.code === 'CHANNEL_NOT_FOUND') throw new ReplyError(ERRORS.unknownChannel);
        // A channel of another node: the write was forwarded there (docs/network.md, Forwarded writes).
        if (err.code === 'NODE_READ_ONLY' || err.code === 'CHANNEL_NOT_PERMITTED') throw new ReplyError(ERRORS.permissionDenied, `${err.code}: ${err.message}`);
        if (err.code === 'NOT_CONNECTED_TO_ORIGIN' || err.code === 'FORWARD_QUEUE_FULL' || err.code === 'FORWARD_TIMEOUT') {
          throw new ReplyError(ERRORS.internal, `${err.code}: ${err.message}`);
        }
      }
      throw err;
    }
  }

  /**
   * The channel's stream events as history. The kept window is the last `historySize` events
   * of the namespace (all of them when historySize is 0), as a history store would keep them.
   */
  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    const row = await this.#deps.storage.getChannelByName(channel);
    if (!row) return { publications: [], position: { offset: 0, epoch: '' } };
    const storage = this.#deps.storage;
    const top = await storage.getStreamTop(row.id);
    const position = { offset: top, epoch: row.id };
    const { limit, since, reverse } = query;
    if (limit === 0) return { publications: [], position };
    if (since && !epochMatches(since.epoch, row.id)) return { publications: [], position };
    const resolved = this.#deps.namespaces.tryResolve(channel);
    const size = typeof resolved === 'string' ? 0 : resolved.options.historySize;
    const windowStart = size > 0 ? Math.max(0, top - size) : 0;
    const count = Math.min(limit < 0 ? MAX_READ : limit, MAX_READ);
    // Bounded by the top read above: events committed since then belong to the next read.
    let events: StreamEvent[];
    if (reverse) {
      const before = since ? Math.min(since.offset, top + 1) : top + 1;
      events = (await storage.listStreamEvents(row.id, { beforeOffset: before, limit: count, reverse: true })).filter((e) => e.offset > windowStart);
    } else {
      const after = Math.max(windowStart, since ? since.offset : windowStart);
      events = await storage.listStreamEvents(row.id, { afterOffset: after, beforeOffset: top + 1, limit: count });
    }
    return { publications: events.map(eventPublication), position };
  }
}
