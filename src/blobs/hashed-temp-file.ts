import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { MycelError } from '../errors.js';
import { BlobHasher } from './blob-hasher.js';
import { hashThread } from './hash-thread.js';
import { acquireStaging, releaseStaging, type Staging } from './staging-memory.js';

/**
 * An upload on its way into the store: each chunk is copied into a ring of staging buffers (the
 * chunk is free at once), and every full buffer goes to the disk and to the hash thread at the
 * same time while the next ones fill. The main thread only copies; writing and hashing, the two
 * costs of a store, run beside it (bench/blobs.ts).
 *
 * Where the filesystem allows it the file is opened with O_DIRECT: the bytes go from the staging
 * buffer to the device without the page cache. Through the page cache a large upload costs as
 * much system time as the hashing (the kernel copies every byte and must find a page for it; on
 * a VM a fresh page is slow: 3 s a GiB here against 0.6 s direct) and leaves the whole blob dirty
 * for the final fsync to write in one go. Object stores do the same for the same reasons (MinIO
 * writes objects with O_DIRECT). O_DIRECT asks for buffers, offsets and lengths aligned to the
 * device's block: the buffers are page-aligned (staging-memory.ts), every write but the last is a
 * whole buffer, and the last is padded to the alignment and cut back with ftruncate. A
 * filesystem that refuses O_DIRECT (on open or on a write) gets ordinary writes.
 */
export class HashedTempFile {
  private readonly slots: Slot[];
  private current = 0;
  private filled = 0;
  private position = 0;
  private bytes = 0;
  /** Who hashes, chosen at the first buffer sent on: the hash thread's job (a full buffer, with
   *  shared memory), else a hasher on this thread. */
  private job: number | null = null;
  private hasher: BlobHasher | null = null;
  private failure: unknown = null;
  private closed = false;
  /** The handle opened with O_DIRECT (null without); a write it refuses switches to `reopening`. */
  private readonly directFile: FileHandle | null;
  private reopening: Promise<void> | null = null;

  private constructor(
    private file: FileHandle,
    private direct: boolean,
    private readonly path: string,
    private readonly stage: Staging,
    private readonly ownsStage: boolean,
    private readonly maxBytes: number | undefined,
  ) {
    this.slots = stage.buffers.map((buffer) => ({ buffer, busy: null }));
    this.directFile = direct ? file : null;
  }

  /** Creates `path` (it must not exist) with `mode`. More than `maxBytes` → BLOB_TOO_LARGE.
   *  `staging`: the caller's own staging memory (kept by the caller), else one from the pool. */
  static async create(path: string, mode: number, options: { direct?: boolean; maxBytes?: number; staging?: Staging } = {}): Promise<HashedTempFile> {
    const ownsStage = options.staging === undefined;
    const stage = options.staging ?? acquireStaging();
    const wantDirect = options.direct !== false && stage.aligned && DIRECT_FLAG !== 0;
    try {
      let file: FileHandle;
      let direct = wantDirect;
      try {
        file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (wantDirect ? DIRECT_FLAG : 0), mode);
      } catch (err) {
        if (!wantDirect || (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        // Linux creates the file before it finds that the filesystem has no direct I/O.
        file = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
        direct = false;
      }
      return new HashedTempFile(file, direct, path, stage, ownsStage, options.maxBytes);
    } catch (err) {
      if (ownsStage) releaseStaging(stage);
      throw err;
    }
  }

  /** Whether the bytes bypass the page cache. */
  get directIo(): boolean {
    return this.direct;
  }

  /** Whether the hash thread hashes this upload (it is larger than one staging buffer). */
  get hashedInThread(): boolean {
    return this.job !== null;
  }

  /** The open file (for chown/chmod/sync by the store). */
  get handle(): FileHandle {
    return this.file;
  }

  /** Copies `chunk` in. Returns a promise only when the caller must wait before the next chunk
   *  (every staging buffer is still on its way), else undefined: no promise per chunk. */
  write(chunk: Uint8Array): Promise<void> | undefined {
    this.bytes += chunk.byteLength;
    if (this.maxBytes !== undefined && this.bytes > this.maxBytes) throw new MycelError('BLOB_TOO_LARGE', { maxBytes: this.maxBytes });
    return this.copyFrom(chunk, 0);
  }

  private copyFrom(chunk: Uint8Array, start: number): Promise<void> | undefined {
    let offset = start;
    while (offset < chunk.byteLength) {
      const slot = this.slots[this.current]!;
      if (slot.busy) return this.settle(slot).then(() => this.copyFrom(chunk, offset));
      const n = Math.min(chunk.byteLength - offset, slot.buffer.length - this.filled);
      slot.buffer.set(n === chunk.byteLength ? chunk : chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === slot.buffer.length) {
        this.submit(slot, slot.buffer.length, slot.buffer.length);
        this.current = (this.current + 1) % this.slots.length;
        this.filled = 0;
      }
    }
    return undefined;
  }

  /** Writes and hashes what is staged, waits for every buffer and truncates to the exact size.
   *  The file stays open for the caller's fsync. */
  async end(): Promise<{ sha256: string; sha1: string; size: number }> {
    const size = this.bytes;
    const slot = this.slots[this.current]!;
    if (this.filled > 0) {
      // A direct write must be a whole number of blocks: pad with zeros, then cut the file back.
      const length = this.direct ? Math.ceil(this.filled / DIRECT_ALIGN) * DIRECT_ALIGN : this.filled;
      slot.buffer.fill(0, this.filled, length);
      this.submit(slot, length, this.filled, true);
      this.filled = 0;
    }
    for (const s of this.slots) if (s.busy) await this.settle(s);
    if (this.position !== size) await this.file.truncate(size);
    if (this.job !== null) {
      const job = this.job;
      this.job = null;
      return { ...(await hashThread.digest(job)), size };
    }
    return { ...(this.hasher ?? new BlobHasher()).digests(), size };
  }

  /** Closes the file and gives the buffers back once nothing uses them; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const slot of this.slots) await slot.busy?.catch(() => undefined);
    if (this.job !== null) hashThread.drop(this.job);
    if (this.ownsStage) releaseStaging(this.stage);
    await this.file.close().catch(() => undefined);
  }

  /** Sends `length` bytes of a slot to the disk and its first `hashLength` to be hashed. */
  private submit(slot: Slot, length: number, hashLength: number, last = false): void {
    const at = this.position;
    this.position += length;
    const work = [this.writeAt(slot.buffer, length, at)];
    if (this.job === null && this.hasher === null) {
      // An upload that ends within its first buffer (a small blob) is hashed here: a round trip
      // to the thread would cost more than the hashing. So is every upload without shared memory.
      if (this.stage.shared && !last) this.job = hashThread.newJob();
      else this.hasher = new BlobHasher();
    }
    if (this.job !== null) work.push(hashThread.update(this.job, this.stage.shared!, slot.buffer.byteOffset, hashLength));
    else this.hasher!.update(slot.buffer.subarray(0, hashLength));
    slot.busy = Promise.all(work).then(() => undefined);
    // Kept for the next wait on this slot; never an unhandled rejection meanwhile.
    slot.busy.catch(() => undefined);
  }

  private async settle(slot: Slot): Promise<void> {
    const busy = slot.busy;
    slot.busy = null;
    try {
      await busy;
    } catch (err) {
      this.failure ??= err;
    }
    if (this.failure !== null) throw this.failure;
  }

  private async writeAt(buffer: Buffer, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const file = this.file;
      let bytesWritten: number;
      try {
        ({ bytesWritten } = await file.write(buffer, done, length - done, position + done));
      } catch (err) {
        if (file !== this.directFile || (err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        // The filesystem took O_DIRECT at open but not this write (a stricter alignment, or no
        // direct I/O after all): this write and the rest, including those already in flight on
        // the direct handle, go through the page cache.
        await (this.reopening ??= this.reopenBuffered());
        continue;
      }
      done += bytesWritten;
    }
  }

  private async reopenBuffered(): Promise<void> {
    this.file = await open(this.path, constants.O_WRONLY);
    this.direct = false;
    // Waits for the writes still pending on it.
    await this.directFile!.close();
  }
}

interface Slot {
  buffer: Buffer;
  /** The disk write and hashing of what the slot holds; null when it may be filled. */
  busy: Promise<void> | null;
}

/** O_DIRECT where the platform has it (Linux), else 0. */
const DIRECT_FLAG: number = (constants as { O_DIRECT?: number }).O_DIRECT ?? 0;
/** Alignment of direct writes: 4096 covers devices with 512- and 4096-byte blocks. */
const DIRECT_ALIGN = 4096;
/**
 * Frees the memory of a buffer that owns its whole ArrayBuffer (never a slice of a shared pool);
 * false when it cannot. An HTTP body arrives as one fresh buffer per socket read, which V8 frees
 * only in a full collection, started each time ~64 MB of them pile up: a large upload grew the
 * server by 65–78 MB and spent a fifth of its CPU collecting. Detaching a chunk once it is copied
 * (`ArrayBuffer.prototype.transfer(0)`, Node ≥ 22) frees it at once; Node 20 leaves it to the GC.
 */
export function releaseBuffer(chunk: Uint8Array): boolean {
  const buffer = chunk.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (typeof buffer.transfer !== 'function' || buffer instanceof SharedArrayBuffer) return false;
  if (chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength || buffer.byteLength === 0) return false;
  buffer.transfer(0);
  return true;
}
