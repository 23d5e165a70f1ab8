/**
 * The seam between the realtime node and the domain write path, for namespaces with
 * `persist: true`. There a publication is a post: the node hands it to `persist`, which
 * resolves only after the post is committed. The node does not fan it out itself: the domain's
 * after-commit event calls `RealtimeNode.deliverCommitted`, so subscribers only ever receive
 * what is committed, whoever wrote it (client publish, REST, replication).
 *
 * Stream positions of a persisted channel come from the database: each post creation, edit and
 * delete is an event of the channel's stream with the next offset (gapless per channel, written
 * in the operation's transaction), epoch = the channel's id (a deleted and re-created channel is
 * a new stream). Recovery and history read those events through `history`.
 */
import type { ClientInfo, HistoryQuery, HistoryResult, StreamPosition } from './types.js';

/** Who publishes: a client connection, or the server API / the node itself. */
export type PersistActor = { kind: 'client'; user: string; owner: boolean } | { kind: 'server' };

/**
 * A publication in a persisted namespace. It becomes a post whose author is the actor; the
 * publisher's client `info` is kept with the post's stream event and goes out with it. `tags`
 * and "skip history" apply to history-store namespaces only and are not carried here
 * (docs/protocol.md says so).
 */
export interface PersistRequest {
  channel: string;
  /** The publication's data as the publisher sent it; the persistence maps it to a post (and may refuse it). */
  data: unknown;
  actor: PersistActor;
  /** The publishing client's info (client publishes). */
  info?: ClientInfo;
  /** Makes the publish exactly-once: a post already written under this key in the channel answers instead. */
  idempotencyKey?: string;
}

export interface Persistence {
  /**
   * Stores the publication; resolves with its stream position after the commit is durable.
   * Throws ReplyError (e.g. 107 for data that is no post, 103 when the actor may not write).
   */
  persist(request: PersistRequest): Promise<StreamPosition>;
  /** History of a persisted channel, with HistoryStore semantics. */
  history(channel: string, query: HistoryQuery): Promise<HistoryResult>;
}
