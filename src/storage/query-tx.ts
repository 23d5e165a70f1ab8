import type { BlobPin, BlobRecord, Change, Channel, ClientNode, Link, NodeRecord, Post, Session } from '../model/content.js';
import type { ComputeClient, ComputeInvitation, ComputeJob, ComputeJobStatus, ComputeProject, ComputeTask } from '../model/compute.js';
import type { NetworkPeer, NetworkServerRecord, PeerCursor } from '../model/network.js';
import { MycelError } from '../errors.js';
import { PendingHead } from './pending-head.js';
import type { ChangeHead, KeysetPosition, ListOptions, StorageReader, StorageTx, StreamEvent } from './storage.js';

/**
 * The storages and transactions of both backends delegate every call to a queries class
 * (sqlite/sqlite-queries.ts, postgres/postgres-queries.ts). Those differ only in answering at
 * once (better-sqlite3 is synchronous) or with a promise (pg), so the delegation is written once
 * here over `MaybePromise`; a backend supplies only `run`: on which connection a statement runs
 * and how its failure is typed.
 */

/** A value now (SQLite) or later (PostgreSQL). */
export type MaybePromise<T> = T | Promise<T>;

/** `T`'s promise-returning methods, answering either at once or with a promise. */
type MaybeAsync<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => MaybePromise<R> : T[K];
};

/** The statements a storage reads through. */
export type ReaderQueries = MaybeAsync<Omit<StorageReader, 'listChannels'>> & {
  listChannels(after: KeysetPosition | undefined, limit: number): MaybePromise<Channel[]>;
};

/** The statements a write transaction runs, with the head row it writes right before COMMIT. */
export type TxQueries = ReaderQueries &
  MaybeAsync<Omit<StorageTx, keyof StorageReader>> & {
    writeChangeHead(head: ChangeHead): MaybePromise<void>;
  };

/**
 * Continues with `v` once it is there: synchronously when it is a plain value, so that on a
 * synchronous backend a statement's failure still throws inside `run`, which types it.
 */
function andThen<T, U>(v: MaybePromise<T>, f: (value: T) => MaybePromise<U>): MaybePromise<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}

type PostRange = Parameters<StorageReader['listPosts']>[1];
type StreamRange = Parameters<StorageReader['listStreamEvents']>[1];

/** StorageReader by delegation: every read goes through `run`. */
export abstract class QueryReader<Q extends ReaderQueries> implements StorageReader {
  /** Runs `fn` on this reader's queries and types its failure. */
  protected abstract run<T>(fn: (q: Q) => MaybePromise<T>): Promise<T>;

  getNode(): Promise<NodeRecord | null> { return this.run((q) => q.getNode()); }
  getChannel(id: string): Promise<Channel | null> { return this.run((q) => q.getChannel(id)); }
  getChannelByName(name: string): Promise<Channel | null> { return this.run((q) => q.getChannelByName(name)); }
  listChannels(o: ListOptions): Promise<Channel[]> { return this.run((q) => q.listChannels(o.after, o.limit)); }
  getPost(id: string): Promise<Post | null> { return this.run((q) => q.getPost(id)); }
  listPosts(channelId: string, o: PostRange): Promise<Post[]> { return this.run((q) => q.listPosts(channelId, o)); }
  getPostByIdempotencyKey(channelId: string, key: string): Promise<Post | null> {
    return this.run((q) => q.getPostByIdempotencyKey(channelId, key));
  }
  getStreamTop(channelId: string): Promise<number> { return this.run((q) => q.getStreamTop(channelId)); }
  listStreamEvents(channelId: string, o: StreamRange): Promise<StreamEvent[]> { return this.run((q) => q.listStreamEvents(channelId, o)); }
  getPostStreamOffset(postId: string): Promise<number | null> { return this.run((q) => q.getPostStreamOffset(postId)); }
  getLink(id: string): Promise<Link | null> { return this.run((q) => q.getLink(id)); }
  findLink(fromPostId: string, toPostId: string, label: string): Promise<Link | null> {
    return this.run((q) => q.findLink(fromPostId, toPostId, label));
  }
  listLinks(postId: string): Promise<Link[]> { return this.run((q) => q.listLinks(postId)); }
  scanChannels(afterId: string | null, limit: number): Promise<Channel[]> { return this.run((q) => q.scanChannels(afterId, limit)); }
  scanPosts(afterId: string | null, limit: number): Promise<Post[]> { return this.run((q) => q.scanPosts(afterId, limit)); }
  scanLinks(afterId: string | null, limit: number): Promise<Link[]> { return this.run((q) => q.scanLinks(afterId, limit)); }
  getChanges(fromSerial: number, limit: number): Promise<Change[]> { return this.run((q) => q.getChanges(fromSerial, limit)); }
  readChangeHead(): Promise<ChangeHead> { return this.run((q) => q.readChangeHead()); }
  countChanges(): Promise<number> { return this.run((q) => q.countChanges()); }
  hasOriginChange(originNodeId: string, originSerial: number): Promise<boolean> {
    return this.run((q) => q.hasOriginChange(originNodeId, originSerial));
  }
  heldOriginSerials(originNodeId: string, originSerials: readonly number[]): Promise<Set<number>> {
    return this.run((q) => q.heldOriginSerials(originNodeId, originSerials));
  }
  getPeerCursor(peerNodeId: string): Promise<PeerCursor | null> { return this.run((q) => q.getPeerCursor(peerNodeId)); }
  listPeers(): Promise<NetworkPeer[]> { return this.run((q) => q.listPeers()); }
  listNetworkServers(): Promise<NetworkServerRecord[]> { return this.run((q) => q.listNetworkServers()); }
  getBlob(sha256: string): Promise<BlobRecord | null> { return this.run((q) => q.getBlob(sha256)); }
  getBlobBySha1(sha1: string): Promise<BlobRecord | null> { return this.run((q) => q.getBlobBySha1(sha1)); }
  listBlobs(o: ListOptions): Promise<BlobRecord[]> { return this.run((q) => q.listBlobs(o)); }
  listBlobReferrers(sha256Uri: string, sha1Uri: string, limit: number): Promise<Post[]> {
    return this.run((q) => q.listBlobReferrers(sha256Uri, sha1Uri, limit));
  }
  countBlobReferrers(sha256Uri: string, sha1Uri: string): Promise<number> { return this.run((q) => q.countBlobReferrers(sha256Uri, sha1Uri)); }
  getBlobPin(sha256: string): Promise<BlobPin | null> { return this.run((q) => q.getBlobPin(sha256)); }
  listUnreferencedBlobs(createdBefore: number, afterSha256: string | null, limit: number): Promise<BlobRecord[]> {
    return this.run((q) => q.listUnreferencedBlobs(createdBefore, afterSha256, limit));
  }
  getSession(tokenHash: string): Promise<Session | null> { return this.run((q) => q.getSession(tokenHash)); }
  getClientNode(id: string): Promise<ClientNode | null> { return this.run((q) => q.getClientNode(id)); }
  listClientNodes(): Promise<ClientNode[]> { return this.run((q) => q.listClientNodes()); }
  schemaVersion(): Promise<number> { return this.run((q) => q.schemaVersion()); }
  getComputeProject(id: string): Promise<ComputeProject | null> { return this.run((q) => q.getComputeProject(id)); }
  getComputeProjectByName(o: string, name: string): Promise<ComputeProject | null> { return this.run((q) => q.getComputeProjectByName(o, name)); }
  getComputeProjectByTokenHash(h: string): Promise<ComputeProject | null> { return this.run((q) => q.getComputeProjectByTokenHash(h)); }
  getComputeProjectTokenHash(id: string): Promise<string | null> { return this.run((q) => q.getComputeProjectTokenHash(id)); }
  listComputeProjects(): Promise<ComputeProject[]> { return this.run((q) => q.listComputeProjects()); }
  getComputeInvitationBySecretHash(h: string): Promise<ComputeInvitation | null> { return this.run((q) => q.getComputeInvitationBySecretHash(h)); }
  getComputeClient(id: string): Promise<ComputeClient | null> { return this.run((q) => q.getComputeClient(id)); }
  getComputeClientByPublicKey(k: string): Promise<ComputeClient | null> { return this.run((q) => q.getComputeClientByPublicKey(k)); }
  listComputeClients(): Promise<ComputeClient[]> { return this.run((q) => q.listComputeClients()); }
  getComputeJob(id: string): Promise<ComputeJob | null> { return this.run((q) => q.getComputeJob(id)); }
  getComputeJobByResultBlob(sha256: string): Promise<ComputeJob | null> { return this.run((q) => q.getComputeJobByResultBlob(sha256)); }
  listComputeJobs(projectId: string | null, o: ListOptions): Promise<ComputeJob[]> { return this.run((q) => q.listComputeJobs(projectId, o)); }
  listComputeJobsWithStatus(status: ComputeJobStatus, limit: number): Promise<ComputeJob[]> { return this.run((q) => q.listComputeJobsWithStatus(status, limit)); }
  getComputeTask(id: string): Promise<ComputeTask | null> { return this.run((q) => q.getComputeTask(id)); }
  listComputeTasks(jobId: string): Promise<ComputeTask[]> { return this.run((q) => q.listComputeTasks(jobId)); }
  findLeasableComputeTask(clientId: string, now: number): Promise<ComputeTask | null> { return this.run((q) => q.findLeasableComputeTask(clientId, now)); }
  nextComputeLeaseExpiry(clientId: string): Promise<number | null> { return this.run((q) => q.nextComputeLeaseExpiry(clientId)); }
  scanComputeProjects(a: string | null, n: number): Promise<ComputeProject[]> { return this.run((q) => q.scanComputeProjects(a, n)); }
  scanComputeClients(a: string | null, n: number): Promise<ComputeClient[]> { return this.run((q) => q.scanComputeClients(a, n)); }
  scanComputeJobs(a: string | null, n: number): Promise<ComputeJob[]> { return this.run((q) => q.scanComputeJobs(a, n)); }
  scanComputeTasks(a: string | null, n: number): Promise<ComputeTask[]> { return this.run((q) => q.scanComputeTasks(a, n)); }
}

/** A backend's constraint-failure mappers (type `M`), one per write whose failure a caller can explain. */
export interface ConstraintMappers<M> {
  /** Inserting or updating a channel: a taken name. */
  channel(name: string): M;
  /** Inserting a post: a missing channel. */
  post(channelId: string): M;
  /** Inserting a link: a missing post, or the same link again. */
  link(l: Link): M;
}

/**
 * StorageTx by delegation, with the change-log head kept in a PendingHead. Only valid until its
 * transaction ends: a reference kept past that would otherwise run outside any transaction.
 */
export abstract class QueryTx<Q extends TxQueries, M> extends QueryReader<Q> implements StorageTx {
  readonly head = new PendingHead();
  private open = true;

  constructor(
    protected readonly q: Q,
    private readonly constraints: ConstraintMappers<M>,
  ) {
    super();
  }

  /** Runs `fn` on the queries (use `live()`); `mapError` types a constraint failure. */
  protected abstract override run<T>(fn: (q: Q) => MaybePromise<T>, mapError?: M): Promise<T>;

  end(): void {
    this.open = false;
  }

  /** The queries, once checked that the transaction has not ended. */
  protected live(): Q {
    if (!this.open) throw new MycelError('INTERNAL', { reason: 'the transaction has already ended' });
    return this.q;
  }

  /** Writes the head row if appends moved it; called right before COMMIT. */
  flushHead(): MaybePromise<void> {
    const head = this.head.toWrite();
    return head ? this.q.writeChangeHead(head) : undefined;
  }

  lockChangeHead(): Promise<ChangeHead> {
    return this.run((q) => {
      const held = this.head.current;
      // A plain transaction has no savepoints, so a lock taken here holds until its end; a
      // batch took it at its top level before any work ran.
      return held ? { ...held } : andThen(q.lockChangeHead(), (h) => this.head.loaded(h));
    });
  }

  override readChangeHead(): Promise<ChangeHead> {
    return this.run((q) => {
      const held = this.head.current;
      return held ? { ...held } : q.readChangeHead();
    });
  }

  insertChange(c: Change): Promise<void> {
    return this.run((q) => {
      if (this.head.current !== null) return this.append(q, c);
      return andThen(q.lockChangeHead(), (h) => {
        this.head.loaded(h);
        return this.append(q, c);
      });
    });
  }

  /** Checks that `c` follows the held head, inserts it and moves the head to it. */
  private append(q: Q, c: Change): MaybePromise<void> {
    this.head.check(c);
    return andThen(q.insertChange(c), () => this.head.advance(c));
  }

  insertNode(node: NodeRecord): Promise<void> { return this.run((q) => q.insertNode(node)); }
  setOwnerPasswordHash(hash: string): Promise<void> { return this.run((q) => q.setOwnerPasswordHash(hash)); }
  insertChannel(c: Channel): Promise<void> { return this.run((q) => q.insertChannel(c), this.constraints.channel(c.name)); }
  updateChannel(c: Channel): Promise<void> { return this.run((q) => q.updateChannel(c), this.constraints.channel(c.name)); }
  deleteChannel(id: string): Promise<void> { return this.run((q) => q.deleteChannel(id)); }
  insertPost(p: Post): Promise<void> { return this.run((q) => q.insertPost(p), this.constraints.post(p.channelId)); }
  updatePost(p: Post): Promise<void> { return this.run((q) => q.updatePost(p)); }
  insertIdempotencyKey(channelId: string, key: string, postId: string): Promise<void> {
    return this.run((q) => q.insertIdempotencyKey(channelId, key, postId));
  }
  appendStreamEvent(p: Post, publisher: unknown): Promise<number> { return this.run((q) => q.appendStreamEvent(p, publisher)); }
  insertLink(l: Link): Promise<void> { return this.run((q) => q.insertLink(l), this.constraints.link(l)); }
  deleteLink(id: string): Promise<void> { return this.run((q) => q.deleteLink(id)); }
  insertSession(s: Session): Promise<void> { return this.run((q) => q.insertSession(s)); }
  deleteSession(tokenHash: string): Promise<void> { return this.run((q) => q.deleteSession(tokenHash)); }
  deleteExpiredSessions(now: number): Promise<number> { return this.run((q) => q.deleteExpiredSessions(now)); }
  deleteOwnerSessions(): Promise<number> { return this.run((q) => q.deleteOwnerSessions()); }
  deleteNodeSessions(nodeId: string): Promise<number> { return this.run((q) => q.deleteNodeSessions(nodeId)); }
  insertClientNode(n: ClientNode): Promise<boolean> { return this.run((q) => q.insertClientNode(n)); }
  updateClientNode(n: ClientNode): Promise<void> { return this.run((q) => q.updateClientNode(n)); }
  deleteClientNode(id: string): Promise<void> { return this.run((q) => q.deleteClientNode(id)); }
  setPeerCursor(c: PeerCursor, now: number): Promise<void> { return this.run((q) => q.setPeerCursor(c, now)); }
  upsertPeer(p: { nodeId: string; name: string; createdAt: number }, now: number): Promise<void> { return this.run((q) => q.upsertPeer(p, now)); }
  insertNetworkServer(s: NetworkServerRecord): Promise<void> { return this.run((q) => q.insertNetworkServer(s)); }
  deleteNetworkServer(id: string): Promise<boolean> { return this.run((q) => q.deleteNetworkServer(id)); }
  insertBlob(b: BlobRecord): Promise<boolean> { return this.run((q) => q.insertBlob(b)); }
  insertBlobPin(p: BlobPin): Promise<boolean> { return this.run((q) => q.insertBlobPin(p)); }
  deleteBlobPin(sha256: string): Promise<boolean> { return this.run((q) => q.deleteBlobPin(sha256)); }
  insertComputeProject(p: ComputeProject, tokenHash: string | null): Promise<boolean> { return this.run((q) => q.insertComputeProject(p, tokenHash)); }
  setComputeProjectTokenHash(id: string, tokenHash: string | null): Promise<void> { return this.run((q) => q.setComputeProjectTokenHash(id, tokenHash)); }
  insertComputeInvitation(i: ComputeInvitation): Promise<void> { return this.run((q) => q.insertComputeInvitation(i)); }
  useComputeInvitation(id: string, clientId: string, now: number): Promise<boolean> { return this.run((q) => q.useComputeInvitation(id, clientId, now)); }
  insertComputeClient(c: ComputeClient): Promise<boolean> { return this.run((q) => q.insertComputeClient(c)); }
  touchComputeClient(id: string, now: number): Promise<void> { return this.run((q) => q.touchComputeClient(id, now)); }
  insertComputeJob(j: ComputeJob): Promise<boolean> { return this.run((q) => q.insertComputeJob(j)); }
  updateComputeJob(j: ComputeJob): Promise<void> { return this.run((q) => q.updateComputeJob(j)); }
  insertComputeTask(t: ComputeTask): Promise<boolean> { return this.run((q) => q.insertComputeTask(t)); }
  updateComputeTask(t: ComputeTask): Promise<void> { return this.run((q) => q.updateComputeTask(t)); }
  claimComputeTask(clientId: string, now: number): Promise<ComputeTask | null> { return this.run((q) => q.claimComputeTask(clientId, now)); }
}
