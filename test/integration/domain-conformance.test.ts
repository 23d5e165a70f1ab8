// Every domain operation, run through the same suite on SQLite and on PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Actor } from '../../src/domain/actor.js';
import { OWNER } from '../../src/domain/actor.js';
import { verifyChain } from '../../src/domain/changelog.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import type { Change } from '../../src/model/content.js';
import { MycelError } from '../../src/errors.js';
import { openTestCore } from '../helpers/core.js';
import { rawExec, storageBackends, type StorageHandle } from '../helpers/storage.js';

const alice: Actor = { kind: 'user', userId: 'alice' };
const bob: Actor = { kind: 'user', userId: 'bob' };

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof MycelError, `expected MycelError ${code}, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

for (const backend of storageBackends) {
  describe(`domain on ${backend.name}`, () => {
    let core: NodeCore;
    let handle: StorageHandle;
    const committed: Change[] = [];

    before(async () => {
      handle = await backend.create();
      core = await openTestCore(handle.storage);
      core.hook.on((changes) => committed.push(...changes));
    });
    after(async () => {
      await core.close();
      await handle.cleanup();
    });

    test('channels: create, get by id and name, update, list with cursor, delete', async () => {
      const a = await core.operator.createChannel(OWNER, { name: 'chat:lobby', description: 'hello' });
      assert.equal(a.namespace, 'chat');
      assert.equal(a.lastSeq, 0);
      assert.equal(a.originNodeId, core.node.id);
      assert.deepEqual(await core.operator.getChannel(OWNER, a.id), a);
      assert.deepEqual(await core.operator.getChannel(alice, 'chat:lobby'), a);
      await rejectsWith(core.operator.createChannel(OWNER, { name: 'chat:lobby' }), 'CHANNEL_EXISTS');
      await rejectsWith(core.operator.createChannel(OWNER, { name: 'bad name' }), 'VALIDATION_FAILED');
      await rejectsWith(core.operator.createChannel(alice, { name: 'chat:alice' }), 'FORBIDDEN');

      const updated = await core.operator.updateChannel(OWNER, a.id, { description: 'changed' });
      assert.equal(updated.description, 'changed');
      assert.equal((await core.operator.getChannel(OWNER, a.id)).description, 'changed');

      const names = ['list:1', 'list:2', 'list:3', 'list:4', 'list:5'];
      for (const name of names) await core.operator.createChannel(OWNER, { name });
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await core.operator.listChannels(OWNER, { limit: 2, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((c) => c.name));
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      assert.deepEqual(seen, ['chat:lobby', ...names]);
      await rejectsWith(core.operator.listChannels(OWNER, { cursor: 'not-a-cursor' }), 'BAD_CURSOR');

      const doomed = await core.operator.createChannel(OWNER, { name: 'doomed' });
      const p = await core.operator.createPost(OWNER, { channelId: doomed.id, body: 'x' });
      await core.operator.deleteChannel(OWNER, doomed.id);
      await rejectsWith(core.operator.getChannel(OWNER, doomed.id), 'CHANNEL_NOT_FOUND');
      await rejectsWith(core.operator.getPost(OWNER, p.id), 'POST_NOT_FOUND');
      await rejectsWith(core.operator.deleteChannel(OWNER, doomed.id), 'CHANNEL_NOT_FOUND');
    });

    test('posts: create with gapless seq, list forwards and backwards with cursors, edit, delete', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'posts:main' });
      const created = [];
      for (let i = 1; i <= 7; i++) {
        created.push(await core.operator.createPost(i % 2 ? alice : bob, { channelId: ch.id, body: `post ${i}`, meta: { i }, blobRefs: [`sha256://${'a'.repeat(64)}`] }));
      }
      assert.deepEqual(created.map((p) => p.seq), [1, 2, 3, 4, 5, 6, 7]);
      assert.equal(created[0]!.author, 'user:alice');
      assert.deepEqual(created[0]!.meta, { i: 1 });
      assert.equal((await core.operator.getChannel(OWNER, ch.id)).lastSeq, 7);

      const forward: number[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await core.operator.listPosts(alice, ch.id, { limit: 3, ...(cursor ? { cursor } : {}) });
        forward.push(...page.items.map((p) => p.seq));
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      assert.deepEqual(forward, [1, 2, 3, 4, 5, 6, 7]);
      const back1 = await core.operator.listPosts(alice, ch.id, { limit: 4, reverse: true });
      assert.deepEqual(back1.items.map((p) => p.seq), [7, 6, 5, 4]);
      const back2 = await core.operator.listPosts(alice, ch.id, { limit: 4, reverse: true, cursor: back1.nextCursor! });
      assert.deepEqual(back2.items.map((p) => p.seq), [3, 2, 1]);
      assert.equal(back2.nextCursor, null);

      const first = created[0]!;
      await rejectsWith(core.operator.editPost(bob, first.id, { body: 'hijack' }), 'FORBIDDEN');
      const edited = await core.operator.editPost(alice, first.id, { body: 'edited' });
      assert.equal(edited.body, 'edited');
      assert.equal(edited.edited, true);
      assert.deepEqual(edited.meta, { i: 1 });
      assert.deepEqual(await core.operator.getPost(OWNER, first.id), edited);
      await rejectsWith(core.operator.editPost(alice, first.id, {}), 'VALIDATION_FAILED');

      const gone = await core.operator.deletePost(OWNER, first.id);
      assert.equal(gone.deleted, true);
      assert.equal(gone.body, '');
      assert.deepEqual(gone.blobRefs, []);
      await rejectsWith(core.operator.editPost(alice, first.id, { body: 'again' }), 'POST_DELETED');
      await rejectsWith(core.operator.deletePost(alice, first.id), 'POST_DELETED');

      await rejectsWith(core.operator.createPost(alice, { channelId: '0190b5d2-0000-7000-8000-000000000000', body: 'x' }), 'CHANNEL_NOT_FOUND');
      await rejectsWith(core.operator.createPost(alice, { channelId: ch.id, body: 12 as unknown as string }), 'VALIDATION_FAILED');
      await rejectsWith(core.operator.createPost(alice, { channelId: ch.id, body: 'x', meta: [] as unknown as Record<string, unknown> }), 'VALIDATION_FAILED');
      await rejectsWith(core.operator.createPost(alice, { channelId: ch.id, body: 'x', blobRefs: ['md5://00'] }), 'VALIDATION_FAILED');
      await rejectsWith(core.operator.getPost(OWNER, '0190b5d2-0000-7000-8000-000000000000'), 'POST_NOT_FOUND');
    });

    test('posts by channel name can create the channel (persisted realtime publishes)', async () => {
      await rejectsWith(core.operator.createPost(alice, { channel: 'auto:new', body: 'x' }), 'CHANNEL_NOT_FOUND');
      const post = await core.operator.createPost(alice, { channel: 'auto:new', body: 'x', createChannel: true });
      const ch = await core.operator.getChannel(OWNER, 'auto:new');
      assert.equal(post.channelId, ch.id);
      assert.equal(post.seq, 1);
    });

    test('links: create, list from both ends, duplicate refused, delete', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'graph' });
      const a = await core.operator.createPost(alice, { channelId: ch.id, body: 'a' });
      const b = await core.operator.createPost(bob, { channelId: ch.id, body: 'b' });
      const link = await core.operator.createLink(alice, { fromPostId: a.id, toPostId: b.id, label: 'cites' });
      assert.equal(link.label, 'cites');
      await rejectsWith(core.operator.createLink(alice, { fromPostId: a.id, toPostId: b.id, label: 'cites' }), 'LINK_EXISTS');
      await rejectsWith(core.operator.createLink(alice, { fromPostId: b.id, toPostId: a.id, label: 'x' }), 'FORBIDDEN');
      await rejectsWith(core.operator.createLink(alice, { fromPostId: a.id, toPostId: '0190b5d2-0000-7000-8000-000000000000' }), 'POST_NOT_FOUND');
      assert.deepEqual(await core.operator.listLinks(bob, a.id), [link]);
      assert.deepEqual(await core.operator.listLinks(bob, b.id), [link]);
      assert.deepEqual(await core.operator.getLink(bob, link.id), link);
      await rejectsWith(core.operator.deleteLink(bob, link.id), 'FORBIDDEN');
      await core.operator.deleteLink(alice, link.id);
      await rejectsWith(core.operator.getLink(OWNER, link.id), 'LINK_NOT_FOUND');
      assert.deepEqual(await core.operator.listLinks(OWNER, a.id), []);
      await rejectsWith(core.operator.deleteLink(OWNER, link.id), 'LINK_NOT_FOUND');
    });

    test('the change log: gapless serials, every change committed reached the hook in order, chain verifies', async () => {
      // A user reads the changes of channels it may read (every one under the open policy); a node without owner rights pulls over its link instead.
      assert.ok((await core.operator.getChanges(alice, {})).changes.length > 0);
      await rejectsWith(core.operator.getChanges({ kind: 'node', nodeId: '0190a000-0000-7000-8000-000000000001', asOwner: false }, {}), 'FORBIDDEN');
      const all: Change[] = [];
      let from = 1;
      for (let pages = 0; pages < 1000; pages++) {
        const { changes, next } = await core.operator.getChanges(OWNER, { from, limit: 1000 });
        all.push(...changes);
        if (changes.length === 0) break;
        from = next;
      }
      assert.ok(all.length > 20);
      assert.deepEqual(all.map((c) => c.serial), all.map((_, i) => i + 1));
      assert.ok(all.every((c) => c.originNodeId === core.node.id && c.originSerial === c.serial));
      // The hook saw exactly the committed changes, in serial order, failed operations none.
      assert.deepEqual(committed.map((c) => c.serial), all.map((c) => c.serial));
      assert.deepEqual(committed, all);
      const verdict = await verifyChain(core.storage);
      assert.deepEqual(verdict, { ok: true, count: all.length, headHash: all[all.length - 1]!.hash });
    });

    test('a failing operation in a batch is rolled back alone; the rest commit', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'batch' });
      const before = await core.storage.countChanges();
      const results = await Promise.allSettled([
        core.operator.createPost(alice, { channelId: ch.id, body: 'ok 1' }),
        core.operator.createChannel(OWNER, { name: 'batch' }),
        core.operator.createPost(alice, { channelId: ch.id, body: 'ok 2' }),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.equal(await core.storage.countChanges(), before + 2);
      const posts = await core.operator.listPosts(OWNER, ch.id);
      assert.deepEqual(posts.items.map((p) => [p.seq, p.body]), [[1, 'ok 1'], [2, 'ok 2']]);
      assert.equal((await verifyChain(core.storage)).ok, true);
    });

    test('8 concurrent writers × 1,000 posts: serials gapless and unique, chain verifies', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'load' });
      const start = await core.storage.countChanges();
      const writers = Array.from({ length: 8 }, (_, w) =>
        (async () => {
          for (let i = 0; i < 1000; i += 50) {
            await Promise.all(Array.from({ length: 50 }, (_, j) => core.operator.createPost(alice, { channelId: ch.id, body: `w${w} #${i + j}` })));
          }
        })(),
      );
      await Promise.all(writers);
      assert.equal(await core.storage.countChanges(), start + 8000);
      const tail = await core.storage.getChanges(start + 1, 8000);
      assert.deepEqual(tail.map((c) => c.serial), Array.from({ length: 8000 }, (_, i) => start + 1 + i));
      assert.equal((await core.operator.getChannel(OWNER, ch.id)).lastSeq, 8000);
      const verdict = await verifyChain(core.storage);
      assert.equal(verdict.ok, true);
    });

    // Several instances may serve one node only on PostgreSQL; SQLite is one process's file.
    test('two instances on one database write 8 × 1,000 posts: serials and seqs gapless', { skip: backend.name !== 'postgres' }, async () => {
      const second = await openTestCore(handle.open());
      try {
        assert.equal(second.node.id, core.node.id);
        const ch = await core.operator.createChannel(OWNER, { name: 'two-instances' });
        const start = await core.storage.countChanges();
        await Promise.all(
          Array.from({ length: 8 }, (_, w) =>
            (async () => {
              const instance = w % 2 === 0 ? core : second;
              for (let i = 0; i < 1000; i += 50) {
                await Promise.all(Array.from({ length: 50 }, (_, j) => instance.operator.createPost(alice, { channelId: ch.id, body: `w${w} #${i + j}` })));
              }
            })(),
          ),
        );
        const tail = await core.storage.getChanges(start + 1, 9000);
        assert.deepEqual(tail.map((c) => c.serial), Array.from({ length: 8000 }, (_, i) => start + 1 + i));
        const seqs = new Set(tail.map((c) => (c.payload as { post: { seq: number } }).post.seq));
        assert.equal(seqs.size, 8000);
        assert.equal(Math.max(...seqs), 8000);
        assert.equal((await verifyChain(core.storage)).ok, true);
      } finally {
        await second.close();
      }
    });

    test('verifyChain finds a tampered change and names its serial', async () => {
      const before = await verifyChain(core.storage);
      assert.equal(before.ok, true);
      const target = Math.max(2, Math.floor(before.count / 2));
      await rawExec(handle, `UPDATE changes SET payload = $1 WHERE serial = $2`, ['{"tampered":true}', target]);
      const after = await verifyChain(core.storage);
      assert.equal(after.ok, false);
      assert.equal(after.ok === false && after.firstBadSerial, target);
    });
  });
}
