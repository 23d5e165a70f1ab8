import { createReadStream } from 'node:fs';
import { chmod, chown, link, lstat, mkdir, open, readdir, readlink, rename, stat, symlink, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes, createHash, type Hash } from 'node:crypto';
import { basename, dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MycelError } from '../errors.js';
import { assertSha256Hex, isHexDigest } from './blob-uri.js';
import type { BlobReader, BlobStore, PutOptions, StoredBlob } from './blob-store.js';
import { hashThread } from './hash-thread.js';
import { HashedTempFile, releaseBuffer } from './hashed-temp-file.js';
import { SHARED_DIR_MODE, SHARED_FILE_MODE } from './shared-store.js';

/** Bytes read from a blob file at a time: large chunks mean fewer syscalls, stream hops and
 *  buffers for the GC to track (bench/blobs.ts). */
export const IO_CHUNK_BYTES = 1024 * 1024;

/**
 * The blob store on a filesystem (docs/blobs.md):
 *   sha256/ab/cd/<sha256>  the bytes (0640)
 *   sha1/ab/cd/<sha1>      relative symlink to the sha256 file, so a mounted directory resolves
 *                          sha1 names without the database
 *   tmp/                   uploads in progress (same filesystem, so the final rename is atomic)
 *   corrupt/               files whose bytes no longer match their name, never served again
 * A put writes a temp file, fsyncs it, hard-links it to its final name (link fails if the name
 * exists: concurrent puts of the same bytes leave one file and exactly one `created`), fsyncs the
 * directory and removes the temp name. A crash leaves at most a file in tmp/, never a partial
 * final file.
 */
export interface FsBlobStoreOptions {
  /** Mode of blob files (default 0o640). */
  fileMode?: number;
  /** Mode of directories (default 0o750). */
  dirMode?: number;
  /**
   * Shared with this OS group (blobs.authGroup, docs/shared-node.md): every file and directory
   * the store creates is given to the group, files 0640 and directories 2750 whatever the umask.
   */
  group?: number;
  /** Whether a damaged file found by a read is moved to corrupt/ (default true); false for a reader without write access (the CLI on a mount). */
  quarantine?: boolean;
  /** Whether puts write with O_DIRECT where the filesystem allows it (default true; hashed-temp-file.ts). */
  directIo?: boolean;
}

export class FsBlobStore implements BlobStore {
  private readonly fileMode: number;
  private readonly dirMode: number;
  private readonly group: number | undefined;
  private readonly quarantine: boolean;
  private readonly directIo: boolean;

  constructor(readonly dir: string, options: FsBlobStoreOptions = {}) {
    this.group = options.group;
    this.fileMode = options.fileMode ?? (this.group === undefined ? 0o640 : SHARED_FILE_MODE);
    this.dirMode = options.dirMode ?? (this.group === undefined ? 0o750 : SHARED_DIR_MODE);
    this.quarantine = options.quarantine ?? true;
    this.directIo = options.directIo ?? true;
  }

  /** Path of the bytes of a sha256 digest. */
  pathOf(sha256: string): string {
    return join(this.dir, 'sha256', sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  private aliasOf(sha1: string): string {
    return join(this.dir, 'sha1', sha1.slice(0, 2), sha1.slice(2, 4), sha1);
  }

  private async mkdirs(path: string): Promise<void> {
    const first = await mkdir(path, { recursive: true, mode: this.dirMode });
    if (first === undefined || this.group === undefined) return;
    // mkdir's mode passes through the umask (and Linux ignores its setgid bit): the directories
    // just made, from the first one down to `path`, get the group's mode explicitly.
    const made: string[] = [];
    for (let p = path; ; p = dirname(p)) {
      made.unshift(p);
      if (p === first || dirname(p) === p) break;
    }
    for (const d of made) {
      await chown(d, -1, this.group);
      await chmod(d, this.dirMode);
    }
  }

  async put(source: AsyncIterable<Uint8Array> | NodeJS.ReadableStream, options: PutOptions = {}): Promise<StoredBlob & { created: boolean }> {
    const tmpDir = join(this.dir, 'tmp');
    await this.mkdirs(tmpDir);
    const tmp = join(tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}.part`);
    let temp: HashedTempFile | undefined;
    try {
      temp = await HashedTempFile.create(tmp, this.fileMode, { direct: this.directIo, ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }) });
      for await (const piece of source as AsyncIterable<Uint8Array | string>) {
        const chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
        const wait = temp.write(chunk);
        if (wait) await wait;
        // Copied: the chunk's memory can go now (it was the request's own).
        if (options.releaseChunks === true) releaseBuffer(chunk);
      }
      const stored = await temp.end();
      const file = temp.handle;
      if (this.group !== undefined) {
        // Readable by the group whatever the umask; the final name is a link to this inode.
        await file.chown(-1, this.group);
        await file.chmod(this.fileMode);
      }
      await file.sync();
      await temp.close();
      temp = undefined;
      if (options.expect) {
        const expected = options.expect.hex.toLowerCase();
        const actual = options.expect.algo === 'sha256' ? stored.sha256 : stored.sha1;
        if (actual !== expected) {
          throw new MycelError('BLOB_HASH_MISMATCH', { algo: options.expect.algo, expected, actual });
        }
      }
      const final = this.pathOf(stored.sha256);
      await this.mkdirs(dirname(final));
      let created = true;
      try {
        await link(tmp, final);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        created = false;
      }
      if (created) await fsyncPath(dirname(final), 'r');
      await this.ensureAlias(stored.sha1, stored.sha256);
      return { ...stored, created };
    } finally {
      await temp?.close();
      await unlink(tmp).catch(() => undefined);
    }
  }

  private async ensureAlias(sha1: string, sha256: string): Promise<void> {
    const alias = this.aliasOf(sha1);
    await this.mkdirs(dirname(alias));
    try {
      await symlink(relative(dirname(alias), this.pathOf(sha256)), alias);
      await fsyncPath(dirname(alias), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }

  async resolveSha1(sha1: string): Promise<string | null> {
    const hex = sha1.toLowerCase();
    if (!isHexDigest('sha1', hex)) return null;
    let target: string;
    try {
      target = await readlink(this.aliasOf(hex));
    } catch {
      return null;
    }
    const sha256 = basename(target);
    return isHexDigest('sha256', sha256) && (await this.has(sha256)) ? sha256 : null;
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.size(sha256)) !== null;
  }

  async size(sha256: string): Promise<number | null> {
    const hex = sha256.toLowerCase();
    if (!isHexDigest('sha256', hex)) return null;
    try {
      const s = await stat(this.pathOf(hex));
      return s.isFile() ? s.size : null;
    } catch {
      return null;
    }
  }

  async read(sha256: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream> {
    if (!range) return Readable.from(verifiedChunks(await this.open(sha256)), { objectMode: false, highWaterMark: IO_CHUNK_BYTES });
    const fh = await this.openFile(assertSha256Hex(sha256));
    const size = (await fh.stat()).size;
    if (!Number.isSafeInteger(range.start) || !Number.isSafeInteger(range.end) || range.start < 0 || range.end < range.start || range.end >= size) {
      await fh.close();
      throw new MycelError('VALIDATION_FAILED', { field: 'range', size }, `The range ${range.start}-${range.end} is outside the blob (size ${size})`);
    }
    // A partial range cannot be hashed; whole reads and verify() catch corruption.
    return fh.createReadStream({ start: range.start, end: range.end, highWaterMark: IO_CHUNK_BYTES });
  }

  async open(sha256: string): Promise<BlobReader> {
    const hex = assertSha256Hex(sha256);
    const fh = await this.openFile(hex);
    try {
      return new FileBlobReader(fh, (await fh.stat()).size, hex, () => (this.quarantine ? this.moveAside(hex) : Promise.resolve()));
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** Open first: a read then goes on with this file even if it is moved aside meanwhile. */
  private openFile(hex: string): Promise<FileHandle> {
    return open(this.pathOf(hex), 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new MycelError('BLOB_NOT_FOUND', { sha256: hex });
      throw err;
    });
  }

  async verify(sha256: string): Promise<'ok' | 'corrupt' | 'missing'> {
    const hex = assertSha256Hex(sha256);
    const hash = createHash('sha256');
    try {
      await pipeline(createReadStream(this.pathOf(hex)), async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) hash.update(chunk);
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw err;
    }
    if (hash.digest('hex') === hex) return 'ok';
    await this.moveAside(hex);
    return 'corrupt';
  }

  /** Moves a damaged file to corrupt/ so it is never served again (kept for inspection). */
  private async moveAside(sha256: string): Promise<void> {
    const corrupt = join(this.dir, 'corrupt');
    await this.mkdirs(corrupt);
    await rename(this.pathOf(sha256), join(corrupt, `${sha256}.${Date.now()}`)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async remove(sha256: string, sha1?: string): Promise<void> {
    const hex = assertSha256Hex(sha256);
    await unlink(this.pathOf(hex)).catch(ignoreMissing);
    if (sha1 && isHexDigest('sha1', sha1.toLowerCase())) {
      const alias = this.aliasOf(sha1.toLowerCase());
      // Only the alias of these bytes: another blob never shares a sha1 in practice, but check.
      const target = await readlink(alias).catch(() => null);
      if (target !== null && basename(target) === hex) await unlink(alias).catch(ignoreMissing);
    }
  }

  async *list(): AsyncIterable<StoredBlob> {
    const sha1By256 = new Map<string, string>();
    for await (const alias of walk(join(this.dir, 'sha1'))) {
      const target = await readlink(alias).catch(() => null);
      if (target) sha1By256.set(basename(target), basename(alias));
    }
    for await (const file of walk(join(this.dir, 'sha256'))) {
      const sha256 = basename(file);
      if (!isHexDigest('sha256', sha256)) continue;
      const s = await lstat(file).catch(() => null);
      if (!s?.isFile()) continue;
      yield { sha256, sha1: sha1By256.get(sha256) ?? '', size: s.size };
    }
  }

  /** Removes temp files older than `olderThanMs` (left by crashed or cut-off uploads). */
  async cleanTmp(olderThanMs: number): Promise<number> {
    const tmpDir = join(this.dir, 'tmp');
    let removed = 0;
    const names = await readdir(tmpDir).catch(() => [] as string[]);
    for (const name of names) {
      const path = join(tmpDir, name);
      const s = await lstat(path).catch(() => null);
      if (s && Date.now() - s.mtimeMs > olderThanMs) {
        await unlink(path).catch(ignoreMissing);
        removed++;
      }
    }
    return removed;
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}

async function fsyncPath(path: string, flags: 'r' | 'r+'): Promise<void> {
  const fh = await open(path, flags);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Files two directory levels down (`ab/cd/<name>`), as the store lays them out. */
async function* walk(root: string): AsyncIterable<string> {
  const level1 = await readdir(root).catch(() => [] as string[]);
  for (const a of level1.sort()) {
    const level2 = await readdir(join(root, a)).catch(() => [] as string[]);
    for (const b of level2.sort()) {
      const names = await readdir(join(root, a, b)).catch(() => [] as string[]);
      for (const name of names.sort()) yield join(root, a, b, name);
    }
  }
}

/**
 * Hashes a whole read as it passes and holds the last chunk back until the hash is checked:
 * a reader of damaged bytes never gets the complete content, it gets BLOB_CORRUPT instead.
 * A caller reading a large blob into shared staging buffers (staging-memory.ts) has them hashed
 * by the hash thread while it sends them on: such a buffer is read into again only once its
 * hashing is done. Other buffers are hashed here, as they are read.
 */
class FileBlobReader implements BlobReader {
  private hash: Hash | null = null;
  private job: number | null = null;
  /** The thread's hashing of each shared buffer (by its offset in the shared memory). */
  private readonly hashing = new Map<number, Promise<void>>();
  private position = 0;
  private closed = false;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly sha256: string,
    private readonly onCorrupt: () => Promise<void>,
  ) {}

  async read(target: Uint8Array): Promise<number> {
    if (this.closed) throw new Error('blob reader used after close');
    const shared = target.buffer instanceof SharedArrayBuffer ? target.buffer : null;
    if (this.hash === null && this.job === null) {
      // A blob that takes more than one read into shared memory goes to the thread.
      if (shared && this.size > target.byteLength) this.job = hashThread.newJob();
      else this.hash = createHash('sha256');
    }
    if (this.job !== null && !shared) throw new Error('blob reader: a read hashed in the thread needs shared buffers throughout');
    let digest: string;
    try {
      await this.hashing.get(target.byteOffset);
      const { bytesRead } = await this.fh.read(target, 0, target.byteLength, this.position);
      if (bytesRead > 0) {
        this.position += bytesRead;
        if (this.job === null) this.hash!.update(target.subarray(0, bytesRead));
        else this.hashing.set(target.byteOffset, hashThread.update(this.job, shared!, target.byteOffset, bytesRead, false));
        return bytesRead;
      }
      if (this.job === null) digest = this.hash!.digest('hex');
      else {
        await Promise.all(this.hashing.values());
        this.hashing.clear();
        const job = this.job;
        this.job = null;
        digest = (await hashThread.digest(job)).sha256;
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    await this.close();
    if (digest === this.sha256) return 0;
    let cause: unknown;
    await this.onCorrupt().catch((err: unknown) => (cause = err));
    throw new MycelError('BLOB_CORRUPT', { sha256: this.sha256 }, undefined, cause === undefined ? undefined : { cause });
  }

  /** Idempotent; returns once the hash thread no longer reads the caller's buffers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.hashing.values()].map((p) => p.catch(() => undefined)));
    this.hashing.clear();
    if (this.job !== null) hashThread.drop(this.job);
    await this.fh.close();
  }
}

/**
 * A whole blob as fresh chunks for a stream: each chunk goes out only once the next read has
 * succeeded, and the last only once the end is verified, so a reader never receives the whole
 * of a damaged blob. A consumer that stops early closes the file.
 */
async function* verifiedChunks(reader: BlobReader): AsyncGenerator<Buffer> {
  try {
    let held: Buffer | null = null;
    for (;;) {
      const buffer = Buffer.allocUnsafeSlow(Math.min(IO_CHUNK_BYTES, Math.max(1, reader.size)));
      const n = await reader.read(buffer);
      if (n === 0) break;
      if (held) yield held;
      held = n === buffer.length ? buffer : buffer.subarray(0, n);
    }
    if (held) yield held;
  } finally {
    await reader.close();
  }
}
