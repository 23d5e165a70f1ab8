// Idempotency keys on posts: a retried write is exactly-once across restarts and instances,
// on SQLite and on PostgreSQL.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { OWNER, type Actor } from '../../src/domain/actor.js';
import { verifyChain } from '../../src/domain/changelog.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { MycelError } from '../../src/errors.js';
import { openTestCore } from '../helpers/core.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

const alice: Actor = { kind: 'user', userId: 'alice' };

async function postCreatedChanges(core: NodeCore): Promise<Record<string, unknown>[]> {
  const changes = await core.storage.getChanges(1, 10_000);
  return changes.filter((c) => c.type === 'post.created').map((c) => c.payload);
}

for (const backend of storageBackends) {
  describe(`idempotent post writes on ${backend.name}`, () => {
    let handle: StorageHandle;
    let core: NodeCore;

    beforeEach(async () => {
      handle = await backend.create();
      core = await openTestCore(handle.storage);
    });
    afterEach(async () => {
      await core.close();
      await handle.cleanup();
    });

    test('the same key in the same channel returns the first post and writes nothing', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'idem:a' });
      const first = await core.operator.createPost(alice, { channelId: ch.id, body: 'hello', idempotencyKey: 'k-1' });
      const again = await core.operator.createPost(alice, { channelId: ch.id, body: 'hello', idempotencyKey: 'k-1' });
      assert.deepEqual(again, first);
      // The key names the write, not the content: a reuse with other content still answers the first post.
      const reused = await core.operator.createPost(alice, { channelId: ch.id, body: 'other', idempotencyKey: 'k-1' });
      assert.deepEqual(reused, first);
      const other = await core.operator.createPost(alice, { channelId: ch.id, body: 'hello', idempotencyKey: 'k-2' });
      assert.equal(other.seq, 2);
      const plain = await core.operator.createPost(alice, { channelId: ch.id, body: 'hello' });
      assert.equal(plain.seq, 3);
      assert.equal((await core.operator.getChannel(OWNER, ch.id)).lastSeq, 3);

      const created = await postCreatedChanges(core);
      assert.equal(created.length, 3);
      assert.deepEqual(
        created.map((p) => p.idempotencyKey),
        ['k-1', 'k-2', undefined],
        'the key is part of the logged change, so a replica can rebuild it',
      );
      assert.equal((await verifyChain(core.storage)).ok, true);
    });

    test('createPostAt answers the offset of the creation in the channel stream, also for a retry after edits', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'idem:stream' });
      const first = await core.operator.createPostAt(alice, { channelId: ch.id, body: 'a', idempotencyKey: 'k' });
      assert.equal(first.offset, 1);
      const other = await core.operator.createPostAt(alice, { channelId: ch.id, body: 'b' });
      assert.equal(other.offset, 2);
      // The edit is a later event of the stream; the retry still answers the creation's offset.
      await core.operator.editPost(alice, first.post.id, { body: 'a2' });
      assert.equal(await core.storage.getStreamTop(ch.id), 3);
      const retry = await core.operator.createPostAt(alice, { channelId: ch.id, body: 'a', idempotencyKey: 'k' });
      assert.equal(retry.offset, 1);
      assert.equal(retry.post.id, first.post.id);
      assert.equal(retry.post.body, 'a2');
      assert.equal(await core.storage.getStreamTop(ch.id), 3);
    });

    test('a key is per channel', async () => {
      const a = await core.operator.createChannel(OWNER, { name: 'idem:x' });
      const b = await core.operator.createChannel(OWNER, { name: 'idem:y' });
      const pa = await core.operator.createPost(OWNER, { channelId: a.id, body: '1', idempotencyKey: 'same' });
      const pb = await core.operator.createPost(OWNER, { channelId: b.id, body: '1', idempotencyKey: 'same' });
      assert.notEqual(pa.id, pb.id);
    });

    test('retries in the same batch write once', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'idem:batch' });
      const posts = await Promise.all(
        Array.from({ length: 20 }, () => core.operator.createPost(alice, { channel: 'idem:batch', body: 'x', idempotencyKey: 'burst' })),
      );
      assert.equal(new Set(posts.map((p) => p.id)).size, 1);
      assert.equal((await core.operator.getChannel(OWNER, ch.id)).lastSeq, 1);
    });

    test('a retry after a restart returns the post written before it', async () => {
      const first = await core.operator.createPost(alice, { channel: 'idem:restart', createChannel: true, body: 'x', idempotencyKey: 'r-1' });
      await core.close();
      core = await openTestCore(handle.open());
      const again = await core.operator.createPost(alice, { channel: 'idem:restart', createChannel: true, body: 'x', idempotencyKey: 'r-1' });
      assert.deepEqual(again, first);
      assert.equal((await postCreatedChanges(core)).length, 1);
    });

    test('two instances on one database racing with one key write one post', async () => {
      const second = await openTestCore(handle.open());
      try {
        await core.operator.createChannel(OWNER, { name: 'idem:race' });
        const posts = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 ? second : core).operator.createPost(alice, { channel: 'idem:race', body: 'x', idempotencyKey: 'race' }),
          ),
        );
        assert.equal(new Set(posts.map((p) => p.id)).size, 1);
        assert.equal((await postCreatedChanges(core)).length, 1);
      } finally {
        await second.close();
      }
    });

    test('deleting the channel forgets its keys; a deleted post keeps its key', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'idem:gone' });
      const p = await core.operator.createPost(OWNER, { channelId: ch.id, body: 'x', idempotencyKey: 'g' });
      const tombstone = await core.operator.deletePost(OWNER, p.id);
      assert.deepEqual(await core.operator.createPost(OWNER, { channelId: ch.id, body: 'x', idempotencyKey: 'g' }), tombstone);
      await core.operator.deleteChannel(OWNER, ch.id);
      const again = await core.operator.createPost(OWNER, { channel: 'idem:gone', createChannel: true, body: 'x', idempotencyKey: 'g' });
      assert.notEqual(again.id, p.id);
      assert.equal(again.seq, 1);
    });

    test('a malformed key is refused before anything is written', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'idem:bad' });
      for (const key of ['', 'has space', 'x'.repeat(257), 'caf\u00e9', 'line\nbreak']) {
        await assert.rejects(
          core.operator.createPost(OWNER, { channelId: ch.id, body: 'x', idempotencyKey: key }),
          (err: unknown) => err instanceof MycelError && err.code === 'VALIDATION_FAILED',
          JSON.stringify(key),
        );
      }
      assert.equal((await core.operator.getChannel(OWNER, ch.id)).lastSeq, 0);
    });
  });
}
