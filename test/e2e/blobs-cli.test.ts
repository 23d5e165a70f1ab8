// `mycel blobs ls|info|verify|gc` on a local data dir (src/cli/commands/blobs.ts), and GC's rules
// (src/blobs/blob-gc.ts): unreferenced + unpinned + past the grace period → bytes removed, the
// record kept; --dry-run removes nothing. The node is prepared in-process, the CLI runs as a
// real process on the same SQLite data dir.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { collectBlobGarbage } from '../../src/blobs/blob-gc.js';
import { OWNER, type Actor } from '../../src/domain/actor.js';
import { openNodeCore, type NodeCore } from '../../src/domain/node-core.js';
import { createStorage } from '../../src/storage/index.js';
import { silentLog } from '../helpers/core.js';
import { runMycel } from '../helpers/process.js';

const alice: Actor = { kind: 'user', userId: 'alice' };
const dataDir = mkdtempSync(join(tmpdir(), 'mycel-blobs-cli-'));
const env = { MYCEL_DATA_DIR: dataDir };
const store = new FsBlobStore(join(dataDir, 'blobs'));
const blobs: Record<'referenced' | 'pinned' | 'loose' | 'damaged', { sha256: string; sha1: string; size: number }> = {} as never;

async function withCore<T>(fn: (core: NodeCore) => Promise<T>): Promise<T> {
  const core = await openNodeCore(createStorage({ url: 'sqlite', dataDir }), { identity: { name: 'blobs-cli', ownerPassword: 'owner-secret' }, sessionMinutes: 60, log: silentLog });
  try {
    return await fn(core);
  } finally {
    await core.close();
  }
}

before(async () => {
  await withCore(async (core) => {
    for (const name of ['referenced', 'pinned', 'loose', 'damaged'] as const) {
      const s = await store.put(Readable.from([Buffer.from(`bytes of ${name} `.repeat(100))]));
      blobs[name] = s;
      await core.operator.recordBlob(alice, s, 'text/plain');
    }
    const ch = await core.operator.createChannel(OWNER, { name: 'files' });
    await core.operator.createPost(alice, { channelId: ch.id, body: 'see', blobRefs: [`sha1://${blobs.referenced.sha1}`] });
    await core.operator.pinBlob(OWNER, blobs.pinned.sha256);
  });
});

after(() => rmSync(dataDir, { recursive: true, force: true }));

test('blobs ls and info show records and whether the bytes are here', async () => {
  const ls = await runMycel(['blobs', 'ls', '--json'], env);
  assert.equal(ls.code, 0, ls.stderr);
  const rows = ls.stdout.trim().split('\n').map((l) => JSON.parse(l) as { sha256: string; stored: boolean });
  assert.deepEqual(new Set(rows.map((r) => r.sha256)), new Set(Object.values(blobs).map((b) => b.sha256)));
  assert.ok(rows.every((r) => r.stored));

  const info = await runMycel(['blobs', 'info', `sha1://${blobs.referenced.sha1}`, '--json'], env);
  assert.equal(info.code, 0, info.stderr);
  const parsed = JSON.parse(info.stdout) as { sha256: string; references: number; pin: unknown; stored: boolean };
  assert.equal(parsed.sha256, blobs.referenced.sha256);
  assert.equal(parsed.references, 1);
  assert.equal(parsed.stored, true);

  const missing = await runMycel(['blobs', 'info', `sha256://${'0'.repeat(64)}`], env);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /BLOB_NOT_FOUND/);
  const bad = await runMycel(['blobs', 'info', 'nonsense'], env);
  assert.match(bad.stderr, /BAD_BLOB_URI/);
});

test('blobs verify finds a damaged file, moves it aside and exits 1', async () => {
  const ok = await runMycel(['blobs', 'verify', blobs.loose.sha256], env);
  assert.equal(ok.code, 0, ok.stderr + ok.stdout);
  writeFileSync(store.pathOf(blobs.damaged.sha256), 'not the bytes');
  const all = await runMycel(['blobs', 'verify', '--json'], env);
  assert.equal(all.code, 1, all.stderr);
  const verdict = JSON.parse(all.stdout) as { ok: boolean; checked: number; results: Array<{ sha256: string; result: string }> };
  assert.equal(verdict.ok, false);
  assert.equal(verdict.checked, 4);
  assert.deepEqual(verdict.results.filter((r) => r.result !== 'ok'), [{ sha256: blobs.damaged.sha256, result: 'corrupt' }]);
  assert.equal(readdirSync(join(dataDir, 'blobs', 'corrupt')).length, 1);
  const again = await runMycel(['blobs', 'verify', '--json'], env);
  assert.equal(again.code, 0, again.stdout);
});

test('blobs gc: the grace period protects; then only unreferenced, unpinned bytes go and records stay', async () => {
  // Default grace (a day): nothing is old enough.
  const young = await runMycel(['blobs', 'gc', '--json'], env);
  assert.equal(young.code, 0, young.stderr);
  assert.deepEqual((JSON.parse(young.stdout) as { removed: unknown[] }).removed, []);

  const dry = await runMycel(['blobs', 'gc', '--dry-run', '--json'], { ...env, MYCEL_BLOBS_GC_GRACE_SECONDS: '0' });
  assert.equal(dry.code, 0, dry.stderr);
  assert.deepEqual((JSON.parse(dry.stdout) as { removed: Array<{ sha256: string }> }).removed.map((b) => b.sha256), [blobs.loose.sha256]);
  assert.equal(await store.has(blobs.loose.sha256), true);

  const real = await runMycel(['blobs', 'gc'], { ...env, MYCEL_BLOBS_GC_GRACE_SECONDS: '0' });
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, /removed 1 blobs/);
  assert.equal(await store.has(blobs.loose.sha256), false);
  assert.equal(await store.resolveSha1(blobs.loose.sha1), null);
  for (const kept of [blobs.referenced, blobs.pinned]) assert.equal(await store.has(kept.sha256), true);

  // The record stays; the bytes can come back with a new upload.
  await withCore(async (core) => {
    assert.ok(await core.storage.getBlob(blobs.loose.sha256));
    const report = await collectBlobGarbage(store, core.operator.blobs, core.storage, { graceSeconds: 0, now: Date.now() + 1000 });
    assert.deepEqual(report.removed, []);
  });
});
