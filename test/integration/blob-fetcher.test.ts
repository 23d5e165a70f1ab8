// The blob fetcher on a real filesystem store: bytes from a source are verified while stored,
// other bytes leave nothing behind, concurrent reads share one transfer, and posts committed in
// an eager channel start a fetch (through the real commit hook).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { BlobFetcher, channelGlob, sha256RefsIn, watchEagerChannels, type BlobSource } from '../../src/blobs/blob-fetcher.js';
import { FsBlobStore } from '../../src/blobs/fs-blob-store.js';
import { CommitHook } from '../../src/domain/commit-hook.js';
import type { Change } from '../../src/model/content.js';
import { silentLog } from '../helpers/core.js';
import { until } from '../helpers/network-process.js';

const root = mkdtempSync(join(tmpdir(), 'mycel-blob-fetcher-'));
after(() => rmSync(root, { recursive: true, force: true }));

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** A source that serves `bytes` for every digest it is asked for, counting the asks. */
function sourceOf(table: Map<string, Buffer>): { source: BlobSource; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    source: async (hex) => {
      asked.push(hex);
      const bytes = table.get(hex);
      // Chunked and a little late, so concurrent reads overlap.
      return bytes === undefined ? null : Readable.from((async function* () {
        await new Promise((r) => setTimeout(r, 20));
        for (let i = 0; i < bytes.length; i += 4096) yield bytes.subarray(i, i + 4096);
      })());
    },
  };
}

test('fetches missing bytes once, verifies them, and answers false when no source has them', async () => {
  const store = new FsBlobStore(join(root, 'ok'));
  const bytes = randomBytes(50_000);
  const { source, asked } = sourceOf(new Map([[sha256(bytes), bytes]]));
  const fetcher = new BlobFetcher({ store, source, log: silentLog });
  const results = await Promise.all([1, 2, 3].map(() => fetcher.fetchMissing(sha256(bytes))));
  assert.deepEqual(results, [true, true, true]);
  assert.equal(asked.length, 1, 'one transfer for concurrent reads');
  assert.equal(await store.verify(sha256(bytes)), 'ok');
  assert.equal(await fetcher.fetchMissing(sha256(bytes)), true);
  assert.equal(asked.length, 1, 'a stored blob is not fetched again');
  assert.equal(await fetcher.fetchMissing('a'.repeat(64)), false);
});

test('a source that sends other bytes: BLOB_HASH_MISMATCH, nothing kept, a later fetch may try again', async () => {
  const dir = join(root, 'liar');
  const store = new FsBlobStore(dir);
  const claimed = randomBytes(10_000);
  const sent = randomBytes(10_000);
  const { source, asked } = sourceOf(new Map([[sha256(claimed), sent]]));
  const fetcher = new BlobFetcher({ store, source, log: silentLog });
  await assert.rejects(fetcher.fetchMissing(sha256(claimed)), (err: { code?: string }) => err.code === 'BLOB_HASH_MISMATCH');
  assert.equal(await store.has(sha256(claimed)), false);
  assert.equal(await store.has(sha256(sent)), false);
  assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'no temp file left');
  await assert.rejects(fetcher.fetchMissing(sha256(claimed)));
  assert.equal(asked.length, 2, 'a failed fetch is not remembered');
});

function postCreated(serial: number, channelName: string, body: string, meta: unknown = {}, blobRefs: string[] = []): Change {
  return {
    serial,
    originNodeId: '00000000-0000-4000-8000-000000000001',
    originSerial: serial,
    type: 'post.created',
    payloadVersion: 1,
    payload: { post: { id: `p${serial}`, channelId: 'c', body, meta, blobRefs, deleted: false }, channelName },
    createdAt: Date.now(),
    prevHash: '0'.repeat(64),
    hash: '0'.repeat(64),
  };
}

test('posts in an eager channel start a fetch of the blobs they refer to; others do not', async () => {
  const store = new FsBlobStore(join(root, 'eager'));
  const inBody = randomBytes(3000);
  const inMeta = randomBytes(3000); // referred to by blobRefs
  const elsewhere = randomBytes(3000);
  const { source, asked } = sourceOf(new Map([inBody, inMeta, elsewhere].map((b) => [sha256(b), b])));
  const fetcher = new BlobFetcher({ store, source, log: silentLog });
  const hook = new CommitHook((err) => assert.fail(String(err)));
  const detach = watchEagerChannels(hook, fetcher, ['lab:raw*']);
  hook.emit([
    postCreated(1, 'lab:raw-images', `see sha256://${sha256(inBody)}`),
    postCreated(2, 'lab:raw', 'refs only', {}, [`sha256://${sha256(inMeta)}`]),
    postCreated(3, 'lab:other', `sha256://${sha256(elsewhere)}`),
  ]);
  await until('both eager blobs stored', async () => ((await store.has(sha256(inBody))) && (await store.has(sha256(inMeta))) ? true : undefined), 10_000, 20);
  assert.equal(await store.has(sha256(elsewhere)), false);
  assert.deepEqual(asked.sort(), [sha256(inBody), sha256(inMeta)].sort());
  detach();
});

test('refs and channel globs', () => {
  const h = 'AB'.repeat(32);
  assert.deepEqual(sha256RefsIn(`x sha256://${h} and sha256:${h.toLowerCase()} sha256://${h}0`), [h.toLowerCase()]);
  const m = channelGlob(['lab:*', 'a.b']);
  assert.deepEqual(['lab:x', 'lab', 'a.b', 'aXb'].map(m), [true, false, true, false]);
});
