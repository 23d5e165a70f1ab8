import type { Change, Channel, ClientNode, Link, NodeRecord, Post, Session } from '../model/content.js';

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

  getSession(tokenHash: string): Promise<Session | null>;
  getClientNode(id: string): Promise<ClientNode | null>;
  /** Every registered client node, ordered by (createdAt, id). */
  listClientNodes(): Promise<ClientNode[]>;

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

  close(): Promise<void>;
}
