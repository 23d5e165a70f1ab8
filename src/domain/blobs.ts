import { MycelError } from '../errors.js';
import { formatBlobUri, isHexDigest, parseBlobUri } from '../model/blob-uri.js';
import type { BlobPin, BlobRecord, Page } from '../model/content.js';
import type { StorageReader } from '../storage/storage.js';
import { authorOf, hasOwnerRights, type Actor } from './actor.js';
import { channelPermitted } from './client-nodes.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { canUseChannel, type ChannelPolicy } from './permissions.js';
import { checkLimit } from './validation.js';
import type { Writer } from './writer.js';

/**
 * Blob records through the one write path (docs/blobs.md). The bytes live in the blob store
 * (src/blobs); here is what the node knows about them: the record (replicated as `blob.stored`),
 * which posts refer to them (post_blob_refs, kept by the storage with every post write), and
 * local pins. The Operator exposes these; this module holds the rules.
 */

/** What the store reports for bytes it holds. */
export interface StoredBlobInput {
  sha256: string;
  sha1: string;
  size: number;
}

/** A record with what the node knows about its use. */
export interface BlobInfo extends BlobRecord {
  /** Post references naming it by either URI. */
  references: number;
  pin: BlobPin | null;
}

/** Most posts looked at when deciding whether a post gives an actor read access to a blob. */
const REFERRERS_CHECKED = 1000;

function invalid(field: string, reason: string): MycelError {
  return new MycelError('VALIDATION_FAILED', { field, reason }, `${field}: ${reason}`);
}

function notFound(sha256: string): MycelError {
  return new MycelError('BLOB_NOT_FOUND', { sha256 });
}

export function checkMediaType(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || value.length > 255 || !/^[\x21-\x7e][\x20-\x7e]*$/.test(value)) {
    throw invalid('mediaType', 'must be a printable ASCII media type of at most 255 characters');
  }
  return value;
}

export class BlobRecords {
  private allowDownload = true;

  constructor(
    private readonly storage: StorageReader,
    private readonly writer: Writer,
    private readonly policy: ChannelPolicy,
  ) {}

  /** `blobs.allowDownload: false` → only owner rights read blobs. */
  setAllowDownload(allowed: boolean): void {
    this.allowDownload = allowed;
  }

  /**
   * Records bytes the store holds, once: the first record (and uploader) is kept, a later call
   * for the same sha256 returns it with `created: false` and writes nothing.
   */
  async record(actor: Actor, stored: StoredBlobInput, mediaType?: string | null): Promise<{ blob: BlobRecord; created: boolean }> {
    if (!isHexDigest('sha256', stored.sha256)) throw invalid('sha256', 'must be 64 lower-case hex digits');
    if (!isHexDigest('sha1', stored.sha1)) throw invalid('sha1', 'must be 40 lower-case hex digits');
    if (!Number.isSafeInteger(stored.size) || stored.size < 0) throw invalid('size', 'must be a non-negative integer');
    const media = checkMediaType(mediaType);
    return this.writer.run(async (unit) => {
      const existing = await unit.tx.getBlob(stored.sha256);
      if (existing) return { blob: existing, created: false };
      const other = await unit.tx.getBlobBySha1(stored.sha1);
      if (other) throw new MycelError('BLOB_HASH_MISMATCH', { algo: 'sha1', expected: other.sha256, actual: stored.sha256 }, 'Another blob has this sha1');
      const blob: BlobRecord = {
        sha256: stored.sha256,
        sha1: stored.sha1,
        size: stored.size,
        mediaType: media,
        uploadedBy: authorOf(actor),
        originNodeId: unit.nodeId,
        createdAt: unit.now,
      };
      await unit.tx.insertBlob(blob);
      await unit.append('blob.stored', { blob });
      return { blob, created: true };
    });
  }

  /** The record named by a blob URI (`sha256://`, `sha1://`, short forms or bare hex), or null. */
  async find(uriOrHex: string): Promise<BlobRecord | null> {
    const { algo, hex } = parseBlobUri(uriOrHex, { bareHex: true });
    return algo === 'sha256' ? this.storage.getBlob(hex) : this.storage.getBlobBySha1(hex);
  }

  /** The record if the actor may read the blob; BLOB_NOT_FOUND otherwise, whether it exists or not. */
  async get(actor: Actor, uriOrHex: string): Promise<BlobRecord> {
    const { algo, hex } = parseBlobUri(uriOrHex, { bareHex: true });
    const blob = algo === 'sha256' ? await this.storage.getBlob(hex) : await this.storage.getBlobBySha1(hex);
    if (!blob || !(await this.canRead(actor, blob.sha256, blob))) throw notFound(algo === 'sha256' ? hex : blob?.sha256 ?? hex);
    return blob;
  }

  /** With its reference count and pin (owner rights only: it says who uses what). */
  async info(actor: Actor, uriOrHex: string): Promise<BlobInfo> {
    const blob = await this.get(actor, uriOrHex);
    if (!hasOwnerRights(actor)) throw new MycelError('FORBIDDEN', { action: 'blob.info' });
    const references = await this.storage.countBlobReferrers(formatBlobUri('sha256', blob.sha256), formatBlobUri('sha1', blob.sha1));
    return { ...blob, references, pin: await this.storage.getBlobPin(blob.sha256) };
  }

  /**
   * Whether `actor` may read the blob: owner rights; or (unless downloads are off) the actor
   * uploaded it, a node asks for a compute job's result, or a non-deleted post refers to it
   * (either URI) in a channel the actor may read (for a client node: also within its
   * registration's channels).
   */
  async canRead(actor: Actor, sha256: string, known?: BlobRecord | null): Promise<boolean> {
    if (hasOwnerRights(actor)) return true;
    if (!this.allowDownload) return false;
    const blob = known === undefined ? await this.storage.getBlob(sha256) : known;
    if (blob && blob.uploadedBy === authorOf(actor)) return true;
    // A compute job's result: nodes hold the job (compute changes replicate over every link),
    // so a replica may fetch the bytes it names. Workbenches read results through the compute
    // routes only.
    if (actor.kind === 'node' && (await this.storage.getComputeJobByResultBlob(sha256)) !== null) return true;
    const posts = await this.storage.listBlobReferrers(formatBlobUri('sha256', sha256), blob ? formatBlobUri('sha1', blob.sha1) : '', REFERRERS_CHECKED);
    if (posts.length === 0) return false;
    let permitted: readonly string[] | null = null;
    if (actor.kind === 'node') {
      const registration = await this.storage.getClientNode(actor.nodeId);
      if (!registration) return false;
      permitted = registration.channels;
    }
    const names = new Map<string, string | null>();
    for (const post of posts) {
      let name = names.get(post.channelId);
      if (name === undefined) {
        name = (await this.storage.getChannel(post.channelId))?.name ?? null;
        names.set(post.channelId, name);
      }
      if (name === null) continue;
      if (!canUseChannel(this.policy, actor, 'read', name)) continue;
      if (permitted !== null && !channelPermitted(permitted, name)) continue;
      return true;
    }
    return false;
  }

  /** Throws BLOB_NOT_FOUND unless the actor may read the blob. */
  async authorizeRead(actor: Actor, sha256: string): Promise<void> {
    if (!(await this.canRead(actor, sha256))) throw notFound(sha256);
  }

  /** Blob records by (createdAt, sha256); owner rights only. */
  async list(actor: Actor, options: { cursor?: string; limit?: number } = {}): Promise<Page<BlobRecord>> {
    if (!hasOwnerRights(actor)) throw new MycelError('FORBIDDEN', { action: 'blob.list' });
    const limit = checkLimit(options.limit);
    const after = options.cursor ? decodeCursor(options.cursor, { t: 'number', id: 'string' }) : undefined;
    const rows = await this.storage.listBlobs({ limit: limit + 1, ...(after ? { after: { createdAt: after.t as number, id: after.id as string } } : {}) });
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor({ t: last.createdAt, id: last.sha256 }) : null };
  }

  /** Pins a recorded blob so GC keeps it (local state, not replicated); owner rights. */
  async pin(actor: Actor, uriOrHex: string): Promise<BlobPin> {
    if (!hasOwnerRights(actor)) throw new MycelError('FORBIDDEN', { action: 'blob.pin' });
    const blob = await this.find(uriOrHex);
    if (!blob) throw notFound(parseBlobUri(uriOrHex, { bareHex: true }).hex);
    return this.writer.run(async (unit) => {
      const pin: BlobPin = { sha256: blob.sha256, pinnedBy: authorOf(actor), createdAt: unit.now };
      if (await unit.tx.insertBlobPin(pin)) return pin;
      return (await unit.tx.getBlobPin(blob.sha256)) ?? pin;
    });
  }

  /** Removes a pin; false when there was none. Owner rights. */
  async unpin(actor: Actor, uriOrHex: string): Promise<boolean> {
    if (!hasOwnerRights(actor)) throw new MycelError('FORBIDDEN', { action: 'blob.pin' });
    const blob = await this.find(uriOrHex);
    if (!blob) throw notFound(parseBlobUri(uriOrHex, { bareHex: true }).hex);
    return this.writer.run((unit) => unit.tx.deleteBlobPin(blob.sha256));
  }

  /** GC candidates: recorded before `createdBefore`, no post refers to them, not pinned. */
  async unreferenced(createdBefore: number, afterSha256: string | null, limit: number): Promise<BlobRecord[]> {
    return this.storage.listUnreferencedBlobs(createdBefore, afterSha256, limit);
  }
}
