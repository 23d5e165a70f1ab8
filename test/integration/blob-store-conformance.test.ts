/**
 * The BlobStore contract (src/blobs/blob-store.ts), run against every implementation. An
 * implementation supplies a store on a fresh location plus a few white-box hooks (damage the
 * bytes, count temp and final files) the contract's durability claims need.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import type { BlobStore } from '../../src/blobs/blob-store.js';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { acquireStaging, releaseStaging, STAGING_SLOT_BYTES, STAGING_SLOTS } from '../../src/blobs/staging-memory.js';
import { isMycelError } from '../../src/errors.js';

interface StoreHandle {
  store: BlobStore;
  /** Changes one byte of a stored blob in place. */
  damage(sha256: string): void;
  /** Files in progress (temp) and complete blobs at rest. */
  tmpCount(): number;
  finalCount(): number;
  /** Runs a put of `bytes` random bytes in a child process and SIGKILLs it once it is writing. */
  killMidPut(bytes: number): Promise<void>;
  cleanup(): void;
}

const FS_STORE_MODULE = new URL('../../src/blobs/fs-blob-store.ts', import.meta.url).pathname;

function countFiles(root: string): number {
  if (!existsSync(root)) return 0;
  let n = 0;
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) if (entry.isFile()) n++;
  return n;
}

/** The filesystem store twice: writing with O_DIRECT where the filesystem allows (the default), and through the page cache. */
const implementations: Array<{ name: string; create(): StoreHandle }> = [true, false].map((directIo) => ({
    name: directIo ? 'fs' : 'fs, page-cache writes',
    create(): StoreHandle {
      const dir = mkdtempSync(join(tmpdir(), 'mycel-blobs-'));
      const store = new FsBlobStore(dir, { directIo });
      return {
        store,
        damage(sha256) {
          const path = store.pathOf(sha256);
          const size = statSync(path).size;
          const bytes = size === 0 ? Buffer.from('x') : Buffer.alloc(size, 0x41);
          writeFileSync(path, bytes);
        },
        tmpCount: () => countFiles(join(dir, 'tmp')),
        finalCount: () => countFiles(join(dir, 'sha256')),
        async killMidPut(bytes) {
          const code = `
            import { FsBlobStore } from ${JSON.stringify(FS_STORE_MODULE)};
            async function* source() {
              const chunk = Buffer.alloc(64 * 1024, 7);
              for (let sent = 0; sent < ${bytes}; sent += chunk.length) {
                yield chunk;
                if (sent === 1024 * 1024) process.stdout.write('writing\\n');
                await new Promise((r) => setImmediate(r));
              }
            }
            await new FsBlobStore(${JSON.stringify(dir)}, { directIo: ${directIo} }).put(source());
            process.stdout.write('done\\n');
          `;
          const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`child never started writing: ${stderr}`)), 30_000);
            child.stdout.on('data', (d: Buffer) => {
              if (d.toString().includes('writing')) {
                clearTimeout(timer);
                resolve();
              }
              if (d.toString().includes('done')) reject(new Error('the put finished before it was killed'));
            });
            child.on('exit', () => reject(new Error(`child exited early: ${stderr}`)));
          });
          child.kill('SIGKILL');
          assert.equal(await exited, 'SIGKILL');
        },
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
}));

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

async function* chunked(bytes: Buffer, size = 64 * 1024): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isMycelError(err), `expected MycelError ${code}, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

for (const impl of implementations) {
  describe(`BlobStore conformance: ${impl.name}`, () => {
    let h: StoreHandle;
    beforeEach(() => {
      h = impl.create();
    });
    afterEach(() => h.cleanup());

    it('stores and reads back empty, small and multi-MB blobs; the same bytes twice are one blob', async () => {
      for (const bytes of [Buffer.alloc(0), Buffer.from('hello blobs'), randomBytes(5 * 1024 * 1024 + 17)]) {
        const first = await h.store.put(chunked(bytes));
        assert.deepEqual(first, { sha256: sha256(bytes), sha1: sha1(bytes), size: bytes.length, created: true });
        const again = await h.store.put(chunked(bytes));
        assert.equal(again.created, false);
        assert.equal(again.sha256, first.sha256);
        assert.ok(await h.store.has(first.sha256));
        assert.equal(await h.store.size(first.sha256), bytes.length);
        assert.ok((await readAll(await h.store.read(first.sha256))).equals(bytes));
        assert.equal(await h.store.verify(first.sha256), 'ok');
      }
      assert.equal(h.finalCount(), 3);
      assert.equal(h.tmpCount(), 0);
      const listed = [];
      for await (const b of h.store.list()) listed.push(b);
      assert.equal(listed.length, 3);
      assert.ok(listed.every((b) => b.sha1.length === 40));
    });

    it('serves inclusive byte ranges and refuses ranges outside the blob', async () => {
      const bytes = randomBytes(100_000);
      const { sha256: hex } = await h.store.put(chunked(bytes, 4096));
      assert.ok((await readAll(await h.store.read(hex, { start: 10, end: 19 }))).equals(bytes.subarray(10, 20)));
      assert.ok((await readAll(await h.store.read(hex, { start: 99_999, end: 99_999 }))).equals(bytes.subarray(99_999)));
      assert.ok((await readAll(await h.store.read(hex, { start: 0, end: 99_999 }))).equals(bytes));
      await rejectsWith(h.store.read(hex, { start: 50, end: 100_000 }), 'VALIDATION_FAILED');
      await rejectsWith(h.store.read(hex, { start: 20, end: 10 }), 'VALIDATION_FAILED');
    });

    it('resolves the sha1 alias; unknown names are missing, malformed ones refused', async () => {
      const bytes = Buffer.from('alias me');
      const stored = await h.store.put(chunked(bytes));
      assert.equal(await h.store.resolveSha1(sha1(bytes)), stored.sha256);
      assert.equal(await h.store.resolveSha1(sha1(bytes).toUpperCase()), stored.sha256);
      assert.equal(await h.store.resolveSha1('0'.repeat(40)), null);
      assert.equal(await h.store.has('0'.repeat(64)), false);
      assert.equal(await h.store.size('0'.repeat(64)), null);
      assert.equal(await h.store.verify('0'.repeat(64)), 'missing');
      await rejectsWith(h.store.read('0'.repeat(64)), 'BLOB_NOT_FOUND');
      await rejectsWith(h.store.read('../../etc/passwd'), 'BAD_BLOB_URI');
      await h.store.remove(stored.sha256);
      assert.equal(await h.store.has(stored.sha256), false);
      assert.equal(await h.store.resolveSha1(sha1(bytes)), null);
      await rejectsWith(h.store.read(stored.sha256), 'BLOB_NOT_FOUND');
    });

    it('detects damaged bytes on a whole read and on verify, and sets the file aside for good', async () => {
      const bytes = randomBytes(300_000);
      const a = await h.store.put(chunked(bytes));
      h.damage(a.sha256);
      const stream = await h.store.read(a.sha256);
      const received: Buffer[] = [];
      await assert.rejects(
        (async () => {
          for await (const chunk of stream) received.push(Buffer.from(chunk as Buffer));
        })(),
        (err: unknown) => isMycelError(err) && err.code === 'BLOB_CORRUPT',
      );
      // The reader never got the complete (damaged) content.
      assert.ok(Buffer.concat(received).length < bytes.length);
      assert.equal(await h.store.has(a.sha256), false);
      await rejectsWith(h.store.read(a.sha256), 'BLOB_NOT_FOUND');

      const other = Buffer.from('small one');
      const b = await h.store.put(chunked(other));
      h.damage(b.sha256);
      assert.equal(await h.store.verify(b.sha256), 'corrupt');
      assert.equal(await h.store.has(b.sha256), false);
      // Stored again (re-upload), it is served again.
      assert.equal((await h.store.put(chunked(other))).created, true);
      assert.ok((await readAll(await h.store.read(b.sha256))).equals(other));
    });

    it('open(): the whole blob into the caller\'s buffers, verified at its end; missing and damaged blobs refused', async () => {
      const bytes = randomBytes(1_000_003);
      const { sha256: hex } = await h.store.put(chunked(bytes));
      const reader = await h.store.open(hex);
      assert.equal(reader.size, bytes.length);
      const buffer = Buffer.alloc(65_536);
      const parts: Buffer[] = [];
      for (let n = await reader.read(buffer); n > 0; n = await reader.read(buffer)) parts.push(Buffer.from(buffer.subarray(0, n)));
      assert.ok(Buffer.concat(parts).equals(bytes));
      await reader.close();
      await reader.close();
      await rejectsWith(h.store.open('0'.repeat(64)), 'BLOB_NOT_FOUND');
      await rejectsWith(h.store.open('../../etc/passwd'), 'BAD_BLOB_URI');

      const empty = await h.store.put(chunked(Buffer.alloc(0)));
      const none = await h.store.open(empty.sha256);
      assert.equal(none.size, 0);
      assert.equal(await none.read(Buffer.alloc(16)), 0, 'the end of an empty blob, verified');

      h.damage(hex);
      const damaged = await h.store.open(hex);
      let got = 0;
      await assert.rejects(
        (async () => {
          for (let n = await damaged.read(buffer); n > 0; n = await damaged.read(buffer)) got += n;
        })(),
        (err: unknown) => isMycelError(err) && err.code === 'BLOB_CORRUPT',
      );
      assert.ok(got > 0, 'the bytes came, the end did not pass');
      assert.equal(await h.store.has(hex), false, 'set aside');
    });

    it('keeps every byte of blobs around the staging and block boundaries, however the source cuts them', async () => {
      // Sizes where the writer's cases meet: one block, one staging buffer, the whole ring of
      // buffers (the buffers are reused), and a few bytes either side; any chunking of the source.
      const slot = STAGING_SLOT_BYTES;
      const ring = STAGING_SLOTS * slot;
      const sizes = [1, 4095, 4096, 4097, slot - 1, slot, slot + 1, ring - 4096, ring, ring + 4097, ring + slot + 13];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...sizes), fc.integer({ min: 1, max: 3 * slot }), fc.integer({ min: 0, max: 255 }), async (size, chunk, seed) => {
          const bytes = randomBytes(size);
          bytes[0] = seed;
          const stored = await h.store.put(chunked(bytes, chunk));
          assert.deepEqual({ ...stored, created: true }, { sha256: sha256(bytes), sha1: sha1(bytes), size, created: true });
          assert.ok((await readAll(await h.store.read(stored.sha256))).equals(bytes));
          await h.store.remove(stored.sha256);
        }),
        { numRuns: 12 },
      );
      assert.equal(h.tmpCount(), 0);
    });

    it('open() into shared staging buffers (hashed in the hash thread as they are sent on): whole and checked, damage refused', async () => {
      const bytes = randomBytes(3 * STAGING_SLOT_BYTES + 12_345);
      const { sha256: hex } = await h.store.put(chunked(bytes));
      const readThrough = async (): Promise<Buffer> => {
        const staging = acquireStaging();
        const reader = await h.store.open(hex);
        const parts: Buffer[] = [];
        try {
          // Cycle the buffers as the HTTP body does: each is read into again while earlier ones are being hashed.
          for (let i = 0; ; i++) {
            const buffer = staging.buffers[i % staging.buffers.length]!;
            const n = await reader.read(buffer);
            if (n === 0) break;
            parts.push(Buffer.from(buffer.subarray(0, n)));
          }
        } finally {
          await reader.close();
          releaseStaging(staging);
        }
        return Buffer.concat(parts);
      };
      assert.ok((await readThrough()).equals(bytes));
      h.damage(hex);
      await rejectsWith(readThrough(), 'BLOB_CORRUPT');
      assert.equal(await h.store.has(hex), false, 'set aside');
    });

    it('concurrent puts and reads of different large blobs keep every byte (staging memory is never shared between transfers)', async () => {
      const blobs = Array.from({ length: 6 }, () => randomBytes(STAGING_SLOTS * STAGING_SLOT_BYTES + 100_000));
      const stored = await Promise.all(blobs.map((b, i) => h.store.put(chunked(b, 50_000 + i * 7_919))));
      stored.forEach((s, i) => assert.equal(s.sha256, sha256(blobs[i]!)));
      const read = await Promise.all(stored.map(async (s) => {
        const staging = acquireStaging();
        const reader = await h.store.open(s.sha256);
        const hash = createHash('sha256');
        try {
          for (let i = 0; ; i++) {
            const buffer = staging.buffers[i % staging.buffers.length]!;
            const n = await reader.read(buffer);
            if (n === 0) break;
            hash.update(buffer.subarray(0, n));
            await new Promise((r) => setImmediate(r));
          }
        } finally {
          await reader.close();
          releaseStaging(staging);
        }
        return hash.digest('hex');
      }));
      assert.deepEqual(read, stored.map((s) => s.sha256));
    });

    it('20 concurrent puts of the same content leave one blob and one `created`', async () => {
      const bytes = randomBytes(256 * 1024);
      const results = await Promise.all(Array.from({ length: 20 }, () => h.store.put(chunked(bytes, 8192))));
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.ok(results.every((r) => r.sha256 === sha256(bytes)));
      assert.equal(h.finalCount(), 1);
      assert.equal(h.tmpCount(), 0);
      assert.ok((await readAll(await h.store.read(sha256(bytes)))).equals(bytes));
    });

    it('refuses more than maxBytes and keeps nothing', async () => {
      const bytes = randomBytes(10_001);
      await rejectsWith(h.store.put(chunked(bytes, 1000), { maxBytes: 10_000 }), 'BLOB_TOO_LARGE');
      assert.equal(await h.store.has(sha256(bytes)), false);
      assert.equal(h.finalCount(), 0);
      assert.equal(h.tmpCount(), 0);
      const exact = await h.store.put(chunked(bytes.subarray(0, 10_000), 1000), { maxBytes: 10_000 });
      assert.equal(exact.size, 10_000);
    });

    it('an expected hash that does not match keeps nothing; one that matches stores', async () => {
      const bytes = Buffer.from('expected bytes');
      await rejectsWith(h.store.put(chunked(bytes), { expect: { algo: 'sha256', hex: sha256(Buffer.from('other')) } }), 'BLOB_HASH_MISMATCH');
      await rejectsWith(h.store.put(chunked(bytes), { expect: { algo: 'sha1', hex: sha1(Buffer.from('other')) } }), 'BLOB_HASH_MISMATCH');
      assert.equal(await h.store.has(sha256(bytes)), false);
      assert.equal(await h.store.resolveSha1(sha1(bytes)), null);
      assert.equal(h.finalCount(), 0);
      assert.equal(h.tmpCount(), 0);
      assert.equal((await h.store.put(chunked(bytes), { expect: { algo: 'sha1', hex: sha1(bytes).toUpperCase() } })).created, true);
      assert.equal((await h.store.put(chunked(bytes), { expect: { algo: 'sha256', hex: sha256(bytes) } })).created, false);
    });

    it('a source that fails mid-way keeps nothing', async () => {
      async function* failing(): AsyncIterable<Uint8Array> {
        yield Buffer.alloc(100_000, 1);
        throw new Error('connection reset');
      }
      await assert.rejects(h.store.put(failing()), /connection reset/);
      assert.equal(h.finalCount(), 0);
      assert.equal(h.tmpCount(), 0);
    });

    it('a put killed mid-way (SIGKILL) leaves no final file', async () => {
      await h.killMidPut(64 * 1024 * 1024);
      assert.equal(h.tmpCount(), 1, 'the killed put was writing its temp file');
      assert.equal(h.finalCount(), 0);
      const listed = [];
      for await (const b of h.store.list()) listed.push(b);
      assert.deepEqual(listed, []);
    });
  });
}

describe('FsBlobStore layout', () => {
  it('keeps bytes under sha256/ab/cd/ and a relative sha1 symlink to them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mycel-blobs-'));
    try {
      const store = new FsBlobStore(dir);
      const bytes = Buffer.from('layout');
      const stored = await store.put(chunked(bytes));
      const h256 = stored.sha256;
      const file = join(dir, 'sha256', h256.slice(0, 2), h256.slice(2, 4), h256);
      assert.equal(statSync(file).mode & 0o777, 0o640 & ~process.umask());
      const alias = join(dir, 'sha1', stored.sha1.slice(0, 2), stored.sha1.slice(2, 4), stored.sha1);
      const target = readlinkSync(alias);
      assert.ok(!target.startsWith('/'), `relative link, got ${target}`);
      assert.equal(target, join('..', '..', '..', 'sha256', h256.slice(0, 2), h256.slice(2, 4), h256));
      // Stale temp files (a crashed upload) are cleaned.
      writeFileSync(join(dir, 'tmp', 'stale.part'), 'x');
      assert.equal(await store.cleanTmp(-1), 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
