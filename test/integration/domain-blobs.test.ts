// Blob records through the write path (src/domain/blobs.ts, docs/blobs.md) on SQLite and
// PostgreSQL: recordBlob is idempotent and logs `blob.stored`, apply replays it (verify stays
// green), post_blob_refs follows post create/delete by the Operator and by apply, read access
// follows uploader / referring posts / channel policy / client-node channels, pins, GC reads.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { OWNER, type Actor } from '../../src/domain/actor.js';
import { applyChange } from '../../src/domain/apply.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { openNodeCore } from '../../src/domain/node-core.js';
import { replayLog } from '../../src/domain/replay.js';
import { verifyContent } from '../../src/domain/verify-content.js';
import { MycelError, type ErrorCode } from '../../src/errors.js';
import { createStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { silentLog } from '../helpers/core.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

const alice: Actor = { kind: 'user', userId: 'alice' };
const bob: Actor = { kind: 'user', userId: 'bob' };

function stored(text: string): { sha256: string; sha1: string; size: number } {
  const b = Buffer.from(text);
  return { sha256: createHash('sha256').update(b).digest('hex'), sha1: createHash('sha1').update(b).digest('hex'), size: b.length };
}

function isCode(code: ErrorCode) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof MycelError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  };
}

async function memoryStorage(): Promise<Storage> {
  const s = createStorage({ url: ':memory:', dataDir: '' });
  await s.migrate();
  return s;
}

for (const backend of storageBackends) {
  describe(`blob records: ${backend.name}`, () => {
    let h: StorageHandle;
    let core: NodeCore;
    beforeEach(async () => {
      h = await backend.create();
      // Bob may not read `secret:*` channels.
      core = await openNodeCore(h.storage, {
        identity: { name: 'blob-node', ownerPassword: 'owner-secret' },
        sessionMinutes: 60,
        log: silentLog,
        channelPolicy: { allows: (userId, _action, name) => !(userId === 'bob' && name.startsWith('secret:')) },
      });
    });
    afterEach(async () => {
      await core.close();
      await h.cleanup();
    });

    test('recordBlob is idempotent, keeps the first uploader and logs one blob.stored', async () => {
      const s = stored('first');
      const a = await core.operator.recordBlob(alice, s, 'text/plain');
      assert.equal(a.created, true);
      assert.deepEqual({ ...a.blob, createdAt: 0 }, { ...s, mediaType: 'text/plain', uploadedBy: 'user:alice', originNodeId: core.node.id, createdAt: 0 });
      const b = await core.operator.recordBlob(bob, s, 'application/octet-stream');
      assert.equal(b.created, false);
      assert.deepEqual(b.blob, a.blob);
      const changes = (await core.storage.getChanges(1, 1000)).filter((c) => c.type === 'blob.stored');
      assert.equal(changes.length, 1);
      assert.deepEqual(changes[0]!.payload, { blob: a.blob });
      await assert.rejects(core.operator.recordBlob(alice, { ...s, sha256: 'XYZ' }), isCode('VALIDATION_FAILED'));
      await assert.rejects(core.operator.recordBlob(alice, stored('m'), 'bad\ntype'), isCode('VALIDATION_FAILED'));
      // By either URI form, or bare hex.
      for (const name of [`sha256://${s.sha256}`, `sha1://${s.sha1}`, `sha256:${s.sha256}`, s.sha1.toUpperCase()]) {
        assert.equal((await core.operator.getBlob(OWNER, name)).sha256, s.sha256);
      }
      await assert.rejects(core.operator.getBlob(OWNER, 'sha256://abc'), isCode('BAD_BLOB_URI'));
      await assert.rejects(core.operator.getBlob(OWNER, `sha256://${'0'.repeat(64)}`), isCode('BLOB_NOT_FOUND'));
    });

    test('read access: uploader, referring posts in readable channels, never an existence oracle', async () => {
      const s = stored('shared');
      await core.operator.recordBlob(alice, s, null);
      // Only the uploader and the owner so far.
      assert.equal(await core.operator.canReadBlob(alice, s.sha256), true);
      assert.equal(await core.operator.canReadBlob(OWNER, s.sha256), true);
      assert.equal(await core.operator.canReadBlob(bob, s.sha256), false);
      await assert.rejects(core.operator.getBlob(bob, `sha256://${s.sha256}`), isCode('BLOB_NOT_FOUND'));

      // A post in a channel bob may not read does not help him.
      const secret = await core.operator.createChannel(OWNER, { name: 'secret:a' });
      await core.operator.createPost(alice, { channelId: secret.id, body: 'x', blobRefs: [`sha1://${s.sha1}`] });
      assert.equal(await core.operator.canReadBlob(bob, s.sha256), false);

      // A post in a public channel (by the sha1 URI) does; deleting it takes the access away.
      const pub = await core.operator.createChannel(OWNER, { name: 'public' });
      const post = await core.operator.createPost(alice, { channelId: pub.id, body: 'see', blobRefs: [`sha1://${s.sha1}`] });
      assert.equal(await core.operator.canReadBlob(bob, s.sha256), true);
      assert.equal((await core.operator.getBlob(bob, `sha1://${s.sha1}`)).sha256, s.sha256);
      await core.operator.deletePost(alice, post.id);
      assert.equal(await core.operator.canReadBlob(bob, s.sha256), false);

      // A blob without a record, referred to by a post, by its sha256 URI.
      const loose = stored('no record');
      await core.operator.createPost(alice, { channelId: pub.id, body: 'loose', blobRefs: [`sha256://${loose.sha256}`] });
      assert.equal(await core.operator.canReadBlob(bob, loose.sha256), true);

      // A client node: only within its registration's channels.
      const nodeId = '0b6f4f4e-1c1a-4a53-9a4e-3f0c3a9b2d10';
      await core.clientNodes.register(OWNER, { nodeId, password: 'node-password-1', channels: ['secret:*'] });
      const node: Actor = { kind: 'node', nodeId, asOwner: false };
      assert.equal(await core.operator.canReadBlob(node, loose.sha256), false);
      assert.equal(await core.operator.canReadBlob(node, s.sha256), true);

      // Downloads off: owner rights only.
      core.operator.blobs.setAllowDownload(false);
      assert.equal(await core.operator.canReadBlob(alice, s.sha256), false);
      assert.equal(await core.operator.canReadBlob(OWNER, s.sha256), true);
    });

    test('pins, listing and GC candidates', async () => {
      const a = stored('a');
      const b = stored('b');
      const c = stored('c');
      for (const s of [a, b, c]) await core.operator.recordBlob(alice, s, null);
      const ch = await core.operator.createChannel(OWNER, { name: 'gc' });
      await core.operator.createPost(alice, { channelId: ch.id, body: 'a', blobRefs: [`sha256://${a.sha256}`] });
      await assert.rejects(core.operator.pinBlob(alice, b.sha256), isCode('FORBIDDEN'));
      const pin = await core.operator.pinBlob(OWNER, b.sha256);
      assert.equal(pin.pinnedBy, 'owner');
      assert.equal((await core.operator.pinBlob(OWNER, `sha1://${b.sha1}`)).createdAt, pin.createdAt);
      const future = Date.now() + 60_000;
      const candidates = await core.operator.blobs.unreferenced(future, null, 100);
      assert.deepEqual(candidates.map((x) => x.sha256), [c.sha256]);
      assert.deepEqual(await core.operator.blobs.unreferenced(0, null, 100), []);
      assert.equal(await core.operator.unpinBlob(OWNER, b.sha256), true);
      assert.equal(await core.operator.unpinBlob(OWNER, b.sha256), false);
      assert.deepEqual((await core.operator.blobs.unreferenced(future, null, 100)).map((x) => x.sha256).sort(), [b.sha256, c.sha256].sort());
      const info = await core.operator.getBlobInfo(OWNER, a.sha256);
      assert.equal(info.references, 1);
      assert.equal(info.pin, null);

      await assert.rejects(core.operator.listBlobs(alice), isCode('FORBIDDEN'));
      const first = await core.operator.listBlobs(OWNER, { limit: 2 });
      assert.equal(first.items.length, 2);
      assert.ok(first.nextCursor);
      const second = await core.operator.listBlobs(OWNER, { limit: 2, cursor: first.nextCursor });
      assert.equal(second.items.length, 1);
      assert.equal(second.nextCursor, null);
      assert.deepEqual(new Set([...first.items, ...second.items].map((x) => x.sha256)), new Set([a, b, c].map((x) => x.sha256)));
    });

    test('the log replays blob records and post refs; verify stays green; apply checks what the hash fixes', async () => {
      const s = stored('replayed');
      await core.operator.recordBlob(alice, s, 'image/png');
      const ch = await core.operator.createChannel(OWNER, { name: 'replay' });
      const keep = await core.operator.createPost(alice, { channelId: ch.id, body: 'k', blobRefs: [`sha256://${s.sha256}`] });
      const gone = await core.operator.createPost(alice, { channelId: ch.id, body: 'g', blobRefs: [`sha1://${s.sha1}`] });
      await core.operator.deletePost(alice, gone.id);

      const scratch = await memoryStorage();
      try {
        const verdict = await verifyContent(core.storage, scratch);
        assert.equal(verdict.ok, true, JSON.stringify(verdict));
        assert.deepEqual(await scratch.getBlob(s.sha256), await core.storage.getBlob(s.sha256));
        assert.equal(await scratch.countBlobReferrers(`sha256://${s.sha256}`, `sha1://${s.sha1}`), 1);
        assert.deepEqual((await scratch.listBlobReferrers(`sha256://${s.sha256}`, `sha1://${s.sha1}`, 10)).map((p) => p.id), [keep.id]);

        const changes = await core.storage.getChanges(1, 1000);
        const blobChange = changes.find((c) => c.type === 'blob.stored')!;
        // Applying again is a no-op; a record made elsewhere for the same bytes (other uploader) is kept as first seen.
        await scratch.transaction(async (tx) => {
          await applyChange(tx, blobChange);
          await applyChange(tx, { ...blobChange, payload: { blob: { ...(blobChange.payload.blob as object), uploadedBy: 'user:zed' } } });
        });
        assert.equal((await scratch.getBlob(s.sha256))!.uploadedBy, 'user:alice');
        // A size that contradicts the stored record, or another node's origin, is refused.
        for (const bad of [
          { ...blobChange, payload: { blob: { ...(blobChange.payload.blob as object), size: 999 } } },
          { ...blobChange, payload: { blob: { ...(blobChange.payload.blob as object), originNodeId: '1b6f4f4e-1c1a-4a53-9a4e-3f0c3a9b2d10' } } },
          { ...blobChange, payload: { blob: { ...(blobChange.payload.blob as object), sha256: 'ABC' } } },
        ]) {
          await assert.rejects(scratch.transaction((tx) => applyChange(tx, bad)), isCode('CHANGE_INVALID'));
        }
        // Replaying into a second empty database gives the same rows.
        const again = await memoryStorage();
        try {
          await replayLog(core.storage, again);
          assert.deepEqual(await again.getBlob(s.sha256), await core.storage.getBlob(s.sha256));
        } finally {
          await again.close();
        }
      } finally {
        await scratch.close();
      }
    });
  });
}
