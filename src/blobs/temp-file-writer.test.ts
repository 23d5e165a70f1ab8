import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { releaseBuffer, TempFileWriter } from './temp-file-writer.js';

/** Node ≥ 22 can free an ArrayBuffer at once (transfer); Node 20 cannot, and nothing is released there. */
const canRelease = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';

async function writeThrough(chunks: Buffer[], releaseChunks: boolean): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'mycel-tfw-'));
  try {
    const path = join(dir, 'f');
    const file = await open(path, 'wx');
    // A small buffer so that several chunks queue and go out in one writev.
    await pipeline(Readable.from(chunks), new TempFileWriter(file, releaseChunks, 4));
    await file.close();
    return readFileSync(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('writes every chunk in order; with releaseChunks, frees each one once written (where the runtime can)', async () => {
  const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(1000 + i, i));
  const expected = Buffer.concat(chunks);
  assert.deepEqual(await writeThrough(chunks, true), expected);
  for (const c of chunks) assert.equal(c.byteLength, canRelease ? 0 : 1000 + chunks.indexOf(c), 'released after the write, not before');
});

test('without releaseChunks the caller’s buffers are left whole', async () => {
  const chunks = Array.from({ length: 20 }, (_, i) => Buffer.alloc(5000, i));
  const copies = chunks.map((c) => Buffer.from(c));
  assert.deepEqual(await writeThrough(chunks, false), Buffer.concat(copies));
  assert.deepEqual(chunks, copies);
});

test('releaseBuffer frees only a buffer that owns its whole ArrayBuffer', () => {
  const owned = Buffer.allocUnsafeSlow(4096);
  assert.equal(releaseBuffer(owned), canRelease);
  assert.equal(owned.byteLength, canRelease ? 0 : 4096);
  // A slice of Buffer's shared pool, a view on part of a buffer, an empty one: never.
  const pooled = Buffer.from('small');
  assert.equal(releaseBuffer(pooled), false);
  assert.equal(pooled.toString(), 'small');
  const whole = Buffer.alloc(100, 1);
  const part = whole.subarray(10, 20);
  assert.equal(releaseBuffer(part), false);
  assert.equal(whole.byteLength, 100);
  assert.equal(releaseBuffer(Buffer.alloc(0)), false);
});
