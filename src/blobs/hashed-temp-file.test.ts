import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashThread } from './hash-thread.js';
import { HashedTempFile, releaseBuffer } from './hashed-temp-file.js';
import { acquireStaging, alignedMemory, releaseStaging, STAGING_SLOT_BYTES, STAGING_SLOTS } from './staging-memory.js';

function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'mycel-htf-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test('a large upload is written past the page cache (Linux) and hashed in the thread; a small one is hashed here', async () => {
  await withDir(async (dir) => {
    const big = randomBytes(3 * STAGING_SLOT_BYTES + 5);
    const file = await HashedTempFile.create(join(dir, 'big'), 0o600);
    if (process.platform === 'linux') assert.equal(file.directIo, true, 'ext4, xfs and tmpfs take O_DIRECT');
    for (let i = 0; i < big.length; i += 100_000) await file.write(big.subarray(i, i + 100_000));
    assert.equal(file.hashedInThread, true);
    const digests = await file.end();
    await file.close();
    assert.deepEqual(digests, { sha256: createHash('sha256').update(big).digest('hex'), sha1: createHash('sha1').update(big).digest('hex'), size: big.length });
    assert.ok(readFileSync(join(dir, 'big')).equals(big), 'the padding of the last direct write is cut off');

    const small = Buffer.from('small blob');
    const smallFile = await HashedTempFile.create(join(dir, 'small'), 0o600);
    await smallFile.write(small);
    assert.equal((await smallFile.end()).sha256, createHash('sha256').update(small).digest('hex'));
    assert.equal(smallFile.hashedInThread, false);
    await smallFile.close();
    assert.ok(readFileSync(join(dir, 'small')).equals(small));
  });
});

test('a disk write that fails is reported by end(), not lost', async () => {
  await withDir(async (dir) => {
    const file = await HashedTempFile.create(join(dir, 'f'), 0o600);
    await file.write(randomBytes(STAGING_SLOT_BYTES));
    // The file closed under the writer: the next buffer's write fails (EBADF).
    await file.handle.close();
    await assert.rejects(async () => {
      await file.write(randomBytes(2 * STAGING_SLOT_BYTES));
      await file.end();
    }, (err: NodeJS.ErrnoException) => err.code === 'EBADF' || err.code === 'ERR_INVALID_STATE' || /closed/.test(err.message));
    await file.close();
  });
});

test('direct writes the filesystem refuses after the open go through the page cache, all of them, even several in flight at once', async () => {
  if (process.platform !== 'linux') return;
  await withDir(async (dir) => {
    // Staging memory that claims to be aligned but starts 16 bytes past a page: O_DIRECT opens,
    // then refuses every write (EINVAL), four of them at once.
    const memory = alignedMemory(STAGING_SLOTS * STAGING_SLOT_BYTES + 4096) as SharedArrayBuffer;
    const whole = Buffer.from(memory, 16, STAGING_SLOTS * STAGING_SLOT_BYTES);
    const buffers = Array.from({ length: STAGING_SLOTS }, (_, i) => whole.subarray(i * STAGING_SLOT_BYTES, (i + 1) * STAGING_SLOT_BYTES));
    const bytes = randomBytes(STAGING_SLOTS * STAGING_SLOT_BYTES + 12_345);
    const file = await HashedTempFile.create(join(dir, 'f'), 0o600, { staging: { buffers, shared: memory, aligned: true } });
    assert.equal(file.directIo, true, 'opened with O_DIRECT');
    await file.write(bytes);
    const digests = await file.end();
    assert.equal(file.directIo, false, 'switched to the page cache');
    await file.handle.sync();
    await file.close();
    assert.equal(digests.sha256, createHash('sha256').update(bytes).digest('hex'));
    assert.ok(readFileSync(join(dir, 'f')).equals(bytes));
  });
});

test('more than maxBytes is BLOB_TOO_LARGE as soon as it arrives', async () => {
  await withDir(async (dir) => {
    const file = await HashedTempFile.create(join(dir, 'f'), 0o600, { maxBytes: 10 });
    await file.write(Buffer.alloc(10));
    assert.throws(() => file.write(Buffer.alloc(1)), (err: { code?: string }) => err.code === 'BLOB_TOO_LARGE');
    await file.close();
  });
});

test('the hash thread: a job that fails there fails alone; the next job is served', async () => {
  const staging = acquireStaging();
  try {
    assert.ok(staging.shared, 'this runtime has shared WebAssembly memory');
    const bad = hashThread.newJob();
    await assert.rejects(hashThread.update(bad, staging.shared, staging.shared.byteLength - 10, 100), /hash thread/);
    hashThread.drop(bad);
    const bytes = randomBytes(1000);
    staging.buffers[1]!.set(bytes);
    const good = hashThread.newJob();
    await hashThread.update(good, staging.shared, staging.buffers[1]!.byteOffset, bytes.length);
    assert.deepEqual(await hashThread.digest(good), { sha256: createHash('sha256').update(bytes).digest('hex'), sha1: createHash('sha1').update(bytes).digest('hex') });
  } finally {
    releaseStaging(staging);
  }
});

test('the hash thread never keeps a process alive: started and idle, or after a job, the process exits', async () => {
  const module = JSON.stringify(new URL('./hash-thread.ts', import.meta.url).href);
  for (const body of ['hashThread.warm();', "const j = hashThread.newJob(); await hashThread.update(j, new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer, 0, 10); await hashThread.digest(j);"]) {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import { hashThread } from ${module}; ${body}`], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(timer);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, body);
  }
});

/** Node ≥ 22 can free an ArrayBuffer at once (transfer); Node 20 cannot, and nothing is released there. */
const canRelease = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';

test('releaseBuffer frees only a buffer that owns its whole ArrayBuffer', () => {
  const owned = Buffer.allocUnsafeSlow(4096);
  assert.equal(releaseBuffer(owned), canRelease);
  assert.equal(owned.byteLength, canRelease ? 0 : 4096);
  // A slice of Buffer's shared pool, a view on part of a buffer, an empty one, shared memory: never.
  const pooled = Buffer.from('small');
  assert.equal(releaseBuffer(pooled), false);
  assert.equal(pooled.toString(), 'small');
  const whole = Buffer.alloc(100, 1);
  const part = whole.subarray(10, 20);
  assert.equal(releaseBuffer(part), false);
  assert.equal(whole.byteLength, 100);
  assert.equal(releaseBuffer(Buffer.alloc(0)), false);
  const shared = Buffer.from(new SharedArrayBuffer(64));
  assert.equal(releaseBuffer(shared), false);
  assert.equal(shared.byteLength, 64);
});
