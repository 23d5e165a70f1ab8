import type { BlobRecords } from '../domain/blobs.js';
import { formatBlobUri } from '../model/blob-uri.js';
import type { StorageReader } from '../storage/storage.js';
import type { BlobStore } from './blob-store.js';

/**
 * Blob garbage collection (docs/blobs.md, GC). A blob whose record is older than
 * `blobs.gcGraceSeconds`, that no post refers to (by either URI) and that nobody pinned loses
 * its bytes; its record stays (it is history in the change log, and other nodes have it), so a
 * later read answers BLOB_NOT_FOUND and a new upload of the same bytes stores them again.
 * Each candidate is checked once more right before its bytes go, which narrows (does not close)
 * the window in which a post created meanwhile refers to it: the grace period is the real guard.
 * Temp files of uploads older than the grace period are removed too.
 */

export interface GcCandidate {
  sha256: string;
  sha1: string;
  size: number;
  createdAt: number;
}

export interface GcReport {
  dryRun: boolean;
  /** Candidates whose bytes were removed (or would be, with dryRun). */
  removed: GcCandidate[];
  /** Bytes freed (or that would be). */
  bytes: number;
  /** Upload temp files removed (0 with dryRun). */
  tmpFiles: number;
}

export interface GcOptions {
  graceSeconds: number;
  dryRun?: boolean;
  now?: number;
  /** Candidates read per page. */
  pageSize?: number;
}

/** A store that can also drop stale upload temp files (FsBlobStore). */
type CleanableStore = BlobStore & { cleanTmp?(olderThanMs: number): Promise<number>; remove(sha256: string, sha1?: string): Promise<void> };

export async function collectBlobGarbage(
  store: CleanableStore,
  records: BlobRecords,
  reader: Pick<StorageReader, 'countBlobReferrers' | 'getBlobPin'>,
  options: GcOptions,
): Promise<GcReport> {
  const now = options.now ?? Date.now();
  const graceMs = options.graceSeconds * 1000;
  const pageSize = options.pageSize ?? 500;
  const dryRun = options.dryRun === true;
  const removed: GcCandidate[] = [];
  let bytes = 0;
  let after: string | null = null;
  for (;;) {
    const page = await records.unreferenced(now - graceMs, after, pageSize);
    if (page.length === 0) break;
    after = page[page.length - 1]!.sha256;
    for (const blob of page) {
      const size = await store.size(blob.sha256);
      // A record without bytes (never fetched, or collected before) has nothing to remove.
      if (size === null) continue;
      if (!dryRun) {
        // Re-check right before removing: a post or pin may have arrived since the page was read.
        const refs = await reader.countBlobReferrers(formatBlobUri('sha256', blob.sha256), formatBlobUri('sha1', blob.sha1));
        if (refs > 0 || (await reader.getBlobPin(blob.sha256)) !== null) continue;
        await store.remove(blob.sha256, blob.sha1);
      }
      removed.push({ sha256: blob.sha256, sha1: blob.sha1, size, createdAt: blob.createdAt });
      bytes += size;
    }
    if (page.length < pageSize) break;
  }
  const tmpFiles = !dryRun && store.cleanTmp ? await store.cleanTmp(graceMs) : 0;
  return { dryRun, removed, bytes, tmpFiles };
}
