import type { BlobPin, BlobRecord, Change, Channel, ClientNode, Link, NodeRecord, Post, Session } from '../model/content.js';
import type { ComputeClient, ComputeInvitation, ComputeJob, ComputeJobStatus, ComputeProject, ComputeTask } from '../model/compute.js';
import type { NetworkPeer, NetworkServerRecord, PeerCursor } from '../model/network.js';

/**
 * The storage contract. Two implementations (SQLite, PostgreSQL) pass one conformance suite
 * (test/integration/storage-conformance.test.ts). Storage is dumb on purpose: it persists
 * rows and keeps transactions honest; rules, hashing and permissions live in `domain/`. The
 * one rule it enforces itself is that an appended change follows the log's head (serial and
 * prevHash, see pending-head.ts), so a gap or a fork fails at the insert, not later in verify.
 */

/** Keyset position for listing: rows strictly after (createdAt, id) in the listed order. */
export interface KeysetPosition {
  createdAt: number;
  id: string;
}

export interface ListOptions {
  after?: KeysetPosition;
  limit: number;
}

/** The head of the change log: the last serial and its hash (serial 0 and 64 zeros when empty). */
export interface ChangeHead {
  serial: number;
  hash: string;
}

/**
 * One event of a channel's stream: a post's creation, edit or delete, at its offset (gapless
 * per channel). `post` is the post as the event left it (`updatedAt` is the event's time).
 */
export interface StreamEvent {
  offset: number;
  post: Post;
  /** Who published it (a realtime client's info, stored as given), or null. */
  publisher: unknown;
}

/**
 * Reads, available both inside and outside a write transaction. Outside, they only ever see
 * committed rows. Inside a transaction, read through the transaction: a read on the Storage
 * itself does not see the transaction's own writes, and on SQLite `:memory:` (one connection)
 * it waits until the open transaction ends, so awaiting it from inside would never return.
 */
export interface StorageReader {
  getNode(): Promise<NodeRecord | null>;

  getChannel(id: string): Promise<Channel | null>;
  getChannelByName(name: string): Promise<Channel | null>;
  /** Channels ordered by (createdAt, id) ascending. */
  listChannels(options: ListOptions): Promise<Channel[]>;

  getPost(id: string): Promise<Post | null>;
  /** Posts of a channel with seq > afterSeq, ascending by seq (or descending when `reverse`), tombstones included. */
  listPosts(channelId: string, options: { afterSeq?: number; beforeSeq?: number; limit: number; reverse?: boolean }): Promise<Post[]>;

  /** The post committed in `channelId` under this idempotency key, if any. */
  getPostByIdempotencyKey(channelId: string, key: string): Promise<Post | null>;

  /** The offset of the channel's last stream event; 0 when it has none. */
  getStreamTop(channelId: string): Promise<number>;
  /** Stream events of a channel with afterOffset < offset < beforeOffset, ascending (descending when `reverse`). */
  listStreamEvents(channelId: string, options: { afterOffset?: number; beforeOffset?: number; limit: number; reverse?: boolean }): Promise<StreamEvent[]>;
  /** The offset of a post's first stream event (its creation), or null. */
  getPostStreamOffset(postId: string): Promise<number | null>;

  getLink(id: string): Promise<Link | null>;
  findLink(fromPostId: string, toPostId: string, label: string): Promise<Link | null>;
  /** Links from or to a post, ordered by (createdAt, id). */
  listLinks(postId: string): Promise<Link[]>;

  /**
   * Every channel, post (tombstones included) or link with id > `afterId` (all when null), in
   * ascending id order as JavaScript compares strings, at most `limit`: the digest's walk, one
   * page at a time. Ids are UUIDs (ASCII), so the database's order and JavaScript's agree.
   */
  scanChannels(afterId: string | null, limit: number): Promise<Channel[]>;
  scanPosts(afterId: string | null, limit: number): Promise<Post[]>;
  scanLinks(afterId: string | null, limit: number): Promise<Link[]>;

  /** Changes with serial >= fromSerial, ascending, at most `limit`. */
  getChanges(fromSerial: number, limit: number): Promise<Change[]>;
  /** The last change's serial and hash, without locking. */
  readChangeHead(): Promise<ChangeHead>;
  countChanges(): Promise<number>;
  /** Whether the log holds the change (originNodeId, originSerial), whichever way it came. */
  hasOriginChange(originNodeId: string, originSerial: number): Promise<boolean>;
  /**
   * Which of `originSerials` of `originNodeId` the log holds, in one query (an importer asks
   * once per chunk and origin instead of once per change).
   */
  heldOriginSerials(originNodeId: string, originSerials: readonly number[]): Promise<Set<number>>;

  /** How far this node has imported the peer's log, or null before the first import. */
  getPeerCursor(peerNodeId: string): Promise<PeerCursor | null>;
  /** Every peer met so far, ordered by node id. */
  listPeers(): Promise<NetworkPeer[]>;
  /** Servers added at run time, ordered by (createdAt, id). */
  listNetworkServers(): Promise<NetworkServerRecord[]>;

  getSession(tokenHash: string): Promise<Session | null>;
  getClientNode(id: string): Promise<ClientNode | null>;
  /** Every registered client node, ordered by (createdAt, id). */
  listClientNodes(): Promise<ClientNode[]>;

  getBlob(sha256: string): Promise<BlobRecord | null>;
  getBlobBySha1(sha1: string): Promise<BlobRecord | null>;
  /** Blob records ordered by (createdAt, sha256) ascending; `after.id` is a sha256. */
  listBlobs(options: ListOptions): Promise<BlobRecord[]>;
  /** Non-deleted posts that refer to the blob by its sha256 or sha1 URI, ordered by post id, at most `limit`. */
  listBlobReferrers(sha256Uri: string, sha1Uri: string, limit: number): Promise<Post[]>;
  /** How many post references name the blob by either URI. */
  countBlobReferrers(sha256Uri: string, sha1Uri: string): Promise<number>;
  getBlobPin(sha256: string): Promise<BlobPin | null>;
  /**
   * Blob records created before `createdBefore` that no post refers to (by either URI) and
   * nobody pinned, with sha256 > `afterSha256`, ascending by sha256, at most `limit` (GC).
   */
  listUnreferencedBlobs(createdBefore: number, afterSha256: string | null, limit: number): Promise<BlobRecord[]>;

  // Federated compute (docs/compute.md "Node side"; model/compute.ts).
  getComputeProject(id: string): Promise<ComputeProject | null>;
  /** A project by its name among those created on `originNodeId` (names are unique per origin). */
  getComputeProjectByName(originNodeId: string, name: string): Promise<ComputeProject | null>;
  /** The project whose local token hash is `tokenHash` (sha256 hex of its token), or null. */
  getComputeProjectByTokenHash(tokenHash: string): Promise<ComputeProject | null>;
  /** The local token hash of a project (null when none is set, or no such project). */
  getComputeProjectTokenHash(id: string): Promise<string | null>;
  /** Every project, ordered by (originNodeId, name). */
  listComputeProjects(): Promise<ComputeProject[]>;
  getComputeInvitationBySecretHash(secretHash: string): Promise<ComputeInvitation | null>;
  getComputeClient(id: string): Promise<ComputeClient | null>;
  getComputeClientByPublicKey(publicKey: string): Promise<ComputeClient | null>;
  /** Every client, ordered by (joinedAt, id). */
  listComputeClients(): Promise<ComputeClient[]>;
  getComputeJob(id: string): Promise<ComputeJob | null>;
  /** A job whose result is the blob `sha256` (hex), or null. */
  getComputeJobByResultBlob(sha256: string): Promise<ComputeJob | null>;
  /** Jobs (of one project when `projectId` is given) ordered by (createdAt, id) ascending. */
  listComputeJobs(projectId: string | null, options: ListOptions): Promise<ComputeJob[]>;
  /** Jobs in `status`, oldest first, at most `limit`. */
  listComputeJobsWithStatus(status: ComputeJobStatus, limit: number): Promise<ComputeJob[]>;
  getComputeTask(id: string): Promise<ComputeTask | null>;
  /** Every task of a job, ordered by (round, createdAt, id). */
  listComputeTasks(jobId: string): Promise<ComputeTask[]>;
  /**
   * The client's oldest task that a lease may take at `now` (queued, or leased with its lease
   * expired at or before `now`), without locking: a hint for a waiting poll.
   */
  findLeasableComputeTask(clientId: string, now: number): Promise<ComputeTask | null>;
  /** The earliest lease expiry among the client's leased tasks, or null. */
  nextComputeLeaseExpiry(clientId: string): Promise<number | null>;
  /** The digest's walks (ascending id, as scanChannels). */
  scanComputeProjects(afterId: string | null, limit: number): Promise<ComputeProject[]>;
  scanComputeClients(afterId: string | null, limit: number): Promise<ComputeClient[]>;
  scanComputeJobs(afterId: string | null, limit: number): Promise<ComputeJob[]>;
  scanComputeTasks(afterId: string | null, limit: number): Promise<ComputeTask[]>;

  /** The schema version the database is at. */
  schemaVersion(): Promise<number>;
}

/**
 * A write transaction. Everything done through it commits or rolls back together. A statement
 * that fails inside it (a taken name, a lost connection) spoils it on both backends, as
 * PostgreSQL does: every later call fails and it can only roll back, so let the error propagate.
 */
export interface StorageTx extends StorageReader {
  insertNode(node: NodeRecord): Promise<void>;
  setOwnerPasswordHash(hash: string): Promise<void>;

  insertChannel(channel: Channel): Promise<void>;
  /** Updates description, updatedAt and lastSeq; a channel's name and namespace never change. */
  updateChannel(channel: Channel): Promise<void>;
  /** Deletes the channel, its posts and their links. */
  deleteChannel(id: string): Promise<void>;

  /** Inserts a post; the caller has set post.seq = channel.lastSeq + 1 and updates the channel's lastSeq in the same transaction (updateChannel). */
  /** Also records the post's blob refs in post_blob_refs (and updatePost replaces them), for blob access and GC. */
  insertPost(post: Post): Promise<void>;
  updatePost(post: Post): Promise<void>;
  /** Records the idempotency key of a post inserted in this transaction (unique per channel). */
  insertIdempotencyKey(channelId: string, key: string, postId: string): Promise<void>;

  /**
   * Appends an event for `post` as it is now (inserted or updated in this transaction) to its
   * channel's stream at the next offset, and returns that offset. Callers hold the change-log
   * lock, which serialises appends.
   */
  appendStreamEvent(post: Post, publisher: unknown): Promise<number>;

  insertLink(link: Link): Promise<void>;
  deleteLink(id: string): Promise<void>;

  /**
   * Locks the change-log head until the transaction ends and returns it, so that exactly one
   * writer at a time (across processes sharing the database) appends to the log.
   */
  lockChangeHead(): Promise<ChangeHead>;
  /** Appends a fully formed change (serial = head + 1) and moves the head to it. */
  insertChange(change: Change): Promise<void>;

  insertSession(session: Session): Promise<void>;
  deleteSession(tokenHash: string): Promise<void>;
  deleteExpiredSessions(now: number): Promise<number>;
  /** Deletes every owner session (after the owner password changed); returns how many. */
  deleteOwnerSessions(): Promise<number>;

  /** Deletes every session of one client node (removed, or its password changed); returns how many. */
  deleteNodeSessions(nodeId: string): Promise<number>;

  /** Registers a client node; returns false (and changes nothing) when the id exists. */
  insertClientNode(node: ClientNode): Promise<boolean>;
  /** Replaces everything of a client node but its id and createdAt; NODE_NOT_FOUND when there is none. */
  updateClientNode(node: ClientNode): Promise<void>;
  /** Deletes a client node (not its sessions: see deleteNodeSessions); NODE_NOT_FOUND when there is none. */
  deleteClientNode(id: string): Promise<void>;

  /** Stores how far the peer's log is imported (insert or replace), stamped `now`. */
  setPeerCursor(cursor: PeerCursor, now: number): Promise<void>;
  /** Records a peer's profile; a known peer keeps its firstSeenAt, the rest is replaced. */
  upsertPeer(profile: { nodeId: string; name: string; createdAt: number }, now: number): Promise<void>;
  insertNetworkServer(server: NetworkServerRecord): Promise<void>;
  /** Inserts a blob record; false (and nothing changed) when the sha256 is there already. */
  insertBlob(blob: BlobRecord): Promise<boolean>;
  /** Pins a blob (insert or keep the first pin); false when it was pinned already. */
  insertBlobPin(pin: BlobPin): Promise<boolean>;
  deleteBlobPin(sha256: string): Promise<boolean>;
  /** Deletes a server entry; false when there was none. */
  deleteNetworkServer(id: string): Promise<boolean>;

  /** Inserts a project with its local token hash; false (nothing changed) when the id exists. */
  insertComputeProject(project: ComputeProject, tokenHash: string | null): Promise<boolean>;
  setComputeProjectTokenHash(id: string, tokenHash: string | null): Promise<void>;
  insertComputeInvitation(invitation: ComputeInvitation): Promise<void>;
  /**
   * Marks an invitation used by `clientId` at `now` if it is unused and unexpired; false (and
   * nothing changed) otherwise. The condition is in the statement, so two joins never both win.
   */
  useComputeInvitation(id: string, clientId: string, now: number): Promise<boolean>;
  /** Inserts a client; false (nothing changed) when the id exists. */
  insertComputeClient(client: ComputeClient): Promise<boolean>;
  touchComputeClient(id: string, now: number): Promise<void>;
  /** Inserts a job; false (nothing changed) when the id exists. */
  insertComputeJob(job: ComputeJob): Promise<boolean>;
  /** Writes status, round, updatedAt, result, resultBlobSha256 and error (the rest never changes). */
  updateComputeJob(job: ComputeJob): Promise<void>;
  /** Inserts a task; false (nothing changed) when the id exists. */
  insertComputeTask(task: ComputeTask): Promise<boolean>;
  /** Writes status, lease, attempts, output, error and updatedAt (the rest never changes). */
  updateComputeTask(task: ComputeTask): Promise<void>;
  /**
   * The client's oldest leasable task at `now` (as findLeasableComputeTask), locked for this
   * transaction; on PostgreSQL with FOR UPDATE SKIP LOCKED, so a row another transaction holds
   * is passed over rather than waited for. The caller leases it in the same transaction.
   */
  claimComputeTask(clientId: string, now: number): Promise<ComputeTask | null>;
}

/** One unit of work inside a batch: runs in its own savepoint. */
export type TxWork<T = unknown> = (tx: StorageTx) => Promise<T>;

export interface MigrationReport {
  from: number;
  to: number;
  applied: number[];
}

export interface Storage extends StorageReader {
  readonly dialect: 'sqlite' | 'postgres';

  /**
   * Brings the schema up to the code's version. Throws MycelError SCHEMA_TOO_NEW when the
   * database was migrated by a newer Mycel.
   */
  migrate(): Promise<MigrationReport>;

  /** Runs one unit of work in one transaction. */
  transaction<T>(work: TxWork<T>): Promise<T>;

  /**
   * Runs several units of work in one transaction, each inside its own savepoint: a unit that
   * throws is rolled back alone and reported as rejected, the others commit together. Resolves
   * only after the commit is durable. If the commit itself fails, the promise rejects.
   * It holds the change-head lock from its start (it is the group commit of the write path,
   * whose every unit appends).
   */
  transactionBatch(works: readonly TxWork[]): Promise<PromiseSettledResult<unknown>[]>;

  /**
   * Calls `listener` with the new head serial after each commit that appended to the change
   * log: commits of this storage, and on PostgreSQL also those of other processes on the same
   * database and schema (LISTEN/NOTIFY on a connection of its own, reconnected when lost; after
   * a reconnect it is called once with the head, as commits may have been missed meanwhile).
   * The serials a storage reports only increase, each at most once; a commit overtaken by a
   * later one already reported is not reported (and no commit made after this call goes
   * unreported). A wake-up, not a delivery: read the log after the serial you hold. Listeners run synchronously and must not throw (an error is reported, not rethrown).
   * Returns the function that removes the listener.
   */
  onLogAdvance(listener: (serial: number) => void): () => void;

  close(): Promise<void>;
}
