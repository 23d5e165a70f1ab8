// Applying changes (src/domain/apply.ts) and the content digest (src/domain/digest.ts): a node's
// log replayed into an empty database gives the same rows as the Operator wrote, applying a
// change twice changes nothing, a bad change is a typed error that applies nothing, and the
// digest is the same for the same content on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { OWNER, type Actor } from '../../src/domain/actor.js';
import { applyChange } from '../../src/domain/apply.js';
import { firstContentDifference } from '../../src/domain/content-diff.js';
import { contentDigest, formatDigest } from '../../src/domain/digest.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { replayLog } from '../../src/domain/replay.js';
import { verifyContent } from '../../src/domain/verify-content.js';
import { MycelError, type ErrorCode } from '../../src/errors.js';
import { newId } from '../../src/lib/ids.js';
import type { Change } from '../../src/model/content.js';
import { createStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { openTestCore } from '../helpers/core.js';
import { opArb, runOps } from '../helpers/content-ops.js';
import { rawExec, storageBackends, type StorageHandle } from '../helpers/storage.js';

const alice: Actor = { kind: 'user', userId: 'alice' };

async function memoryStorage(): Promise<Storage> {
  const s = createStorage({ url: ':memory:', dataDir: '' });
  await s.migrate();
  return s;
}

async function allChanges(core: NodeCore): Promise<Change[]> {
  return core.storage.getChanges(1, 1_000_000);
}

function isCode(code: ErrorCode, match?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof MycelError, String(err));
    assert.equal(err.code, code, err.message);
    if (match) assert.match(err.message, match);
    return true;
  };
}

/** Every idempotency key the log names, as [channelId, key, postId] of the posts it holds. */
async function idempotencyKeys(changes: readonly Change[], reader: Storage | NodeCore['storage']): Promise<string[]> {
  const out: string[] = [];
  for (const c of changes) {
    if (c.type !== 'post.created' || typeof c.payload.idempotencyKey !== 'string') continue;
    const post = c.payload.post as { channelId: string };
    const found = await reader.getPostByIdempotencyKey(post.channelId, c.payload.idempotencyKey);
    out.push(`${post.channelId} ${c.payload.idempotencyKey} ${found?.id ?? '-'}`);
  }
  return out;
}

describe('applying changes reproduces what the Operator wrote', () => {
  test('property: any sequence of operations, replayed from the log into an empty database, gives the same rows; applying each change twice too', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
        const a = await openTestCore(await memoryStorage(), { name: 'a' });
        const once = await memoryStorage();
        const twice = await memoryStorage();
        try {
          await runOps(a, ops);
          const changes = await allChanges(a);
          await replayLog(a.storage, once);
          await twice.transaction(async (tx) => {
            for (const change of changes) {
              await applyChange(tx, change);
              await applyChange(tx, change);
            }
          });
          const live = await contentDigest(a.storage);
          assert.equal(await firstContentDifference(a.storage, once), null);
          assert.deepEqual(await contentDigest(once), live);
          assert.equal(await firstContentDifference(a.storage, twice), null);
          assert.deepEqual(await contentDigest(twice), live);
          const keys = await idempotencyKeys(changes, a.storage);
          assert.deepEqual(await idempotencyKeys(changes, once), keys);
          assert.deepEqual(await idempotencyKeys(changes, twice), keys);
        } finally {
          await a.close();
          await once.close();
          await twice.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});

for (const backend of storageBackends) {
  describe(`apply and digest on ${backend.name}`, () => {
    let source: StorageHandle;
    let target: StorageHandle;
    let core: NodeCore;

    beforeEach(async () => {
      source = await backend.create();
      target = await backend.create();
      core = await openTestCore(source.storage, { name: 'apply' });
    });
    afterEach(async () => {
      await core.close();
      await source.cleanup();
      await target.cleanup();
    });

    /** A node with a bit of everything: channels, posts, keys, edits, deletes, links. */
    async function populate(): Promise<{ postId: string; linkId: string }> {
      const a = await core.operator.createChannel(OWNER, { name: 'apply:a', description: 'first' });
      const b = await core.operator.createChannel(OWNER, { name: 'apply:b' });
      const gone = await core.operator.createChannel(OWNER, { name: 'apply:gone' });
      await core.operator.updateChannel(OWNER, a.id, { description: 'first, updated' });
      const p1 = await core.operator.createPost(OWNER, { channelId: a.id, body: 'one', meta: { z: 1, a: [true, null, 'é'] } });
      const p2 = await core.operator.createPost(alice, { channelId: a.id, body: 'two', idempotencyKey: 'key-2' });
      const p3 = await core.operator.createPost(OWNER, { channelId: b.id, body: 'three', blobRefs: [`sha256://${'ab'.repeat(32)}`] });
      const p4 = await core.operator.createPost(OWNER, { channel: 'apply:new', createChannel: true, body: 'four' });
      const g1 = await core.operator.createPost(OWNER, { channelId: gone.id, body: 'in a channel about to go' });
      await core.operator.editPost(OWNER, p1.id, { body: 'one, edited' });
      await core.operator.deletePost(OWNER, p3.id);
      const l1 = await core.operator.createLink(OWNER, { fromPostId: p1.id, toPostId: p2.id, label: 'cites' });
      const l2 = await core.operator.createLink(OWNER, { fromPostId: p2.id, toPostId: p4.id });
      const l3 = await core.operator.createLink(OWNER, { fromPostId: p2.id, toPostId: p1.id });
      await core.operator.createLink(OWNER, { fromPostId: g1.id, toPostId: p1.id });
      await core.operator.deleteLink(OWNER, l3.id);
      await core.operator.deleteChannel(OWNER, gone.id);
      return { postId: p2.id, linkId: l2.id || l1.id };
    }

    test('the log replayed into an empty database gives the same digest, whichever backend either side is on', async () => {
      await populate();
      const live = await contentDigest(core.storage);
      assert.deepEqual([live.channels.count, live.posts.count, live.links.count], [3, 4, 2]);
      assert.match(formatDigest(live), /^sha256:[0-9a-f]{64} channels=3 posts=4 links=2$/);
      const next = await replayLog(core.storage, target.storage, { pageSize: 3 });
      assert.equal(next, (await core.storage.readChangeHead()).serial + 1);
      assert.deepEqual(await contentDigest(target.storage), live);
      // The same content on the other backend (an in-memory SQLite) digests the same.
      const other = await memoryStorage();
      try {
        await replayLog(core.storage, other);
        assert.deepEqual(await contentDigest(other), live);
      } finally {
        await other.close();
      }
      // Paging does not change the digest.
      assert.deepEqual(await contentDigest(core.storage, { pageSize: 1 }), live);
      assert.equal((await verifyContent(core.storage, await freshScratch())).ok, true);
    });

    const scratches: Storage[] = [];
    async function freshScratch(): Promise<Storage> {
      const s = await memoryStorage();
      scratches.push(s);
      return s;
    }
    afterEach(async () => {
      for (const s of scratches.splice(0)) await s.close();
    });

    test('a post edited in the table, or a link deleted there, changes the digest and is named by verifyContent', async () => {
      const { postId, linkId } = await populate();
      const before = await contentDigest(core.storage);
      await rawExec(source, 'UPDATE posts SET body = $1 WHERE id = $2', ['tampered', postId]);
      const after = await contentDigest(core.storage);
      assert.notEqual(after.digest, before.digest);
      assert.notEqual(after.posts.digest, before.posts.digest);
      assert.deepEqual(after.channels, before.channels, 'the kind that differs is the only one whose sub-digest moved');
      assert.deepEqual(after.links, before.links);
      const verdict = await verifyContent(core.storage, await freshScratch());
      assert.equal(verdict.ok, false);
      assert.ok(!verdict.ok && verdict.difference);
      assert.deepEqual([verdict.difference.kind, verdict.difference.id, verdict.difference.problem, verdict.difference.fields], ['posts', postId, 'differs', ['body']]);
      assert.equal(verdict.difference.left?.body, 'tampered');
      assert.equal(verdict.difference.right?.body, 'two');
      assert.match(verdict.reason, new RegExp(`post ${postId}: body differs`));

      await rawExec(source, 'UPDATE posts SET body = $1 WHERE id = $2', ['two', postId]);
      assert.equal((await verifyContent(core.storage, await freshScratch())).ok, true);
      await rawExec(source, 'DELETE FROM links WHERE id = $1', [linkId]);
      const gone = await verifyContent(core.storage, await freshScratch());
      assert.ok(!gone.ok && gone.difference);
      assert.deepEqual([gone.difference.kind, gone.difference.id, gone.difference.problem], ['links', linkId, 'missing']);
      assert.match(gone.reason, /link .* missing from the tables/);
    });

    test('verifyContent beside a writer: a write while the tables are read is caught up with, not reported as a mismatch', async () => {
      await populate();
      let writes = 0;
      // A reader that lets the node write while the live digest is half read, twice.
      const live = new Proxy(core.storage, {
        get(target, prop, receiver) {
          if (prop === 'scanPosts') {
            return async (after: string | null, limit: number) => {
              const page = await target.scanPosts(after, limit);
              if (writes < 2) {
                writes++;
                await core.operator.createPost(OWNER, { channel: 'apply:a', body: `written during verify ${writes}` });
              }
              return page;
            };
          }
          const value: unknown = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const verdict = await verifyContent(live, await freshScratch());
      assert.equal(writes, 2);
      assert.ok(verdict.ok, JSON.stringify(verdict));
      assert.equal(verdict.changes, (await core.storage.readChangeHead()).serial);
      assert.equal(verdict.digest.posts.count, 6);
    });

    test('a bad change is a typed error and applies nothing', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'apply:bad' });
      const post = await core.operator.createPost(OWNER, { channelId: ch.id, body: 'hello' });
      const changes = await allChanges(core);
      const [created, postCreated] = [changes[0]!, changes[1]!];
      await replayLog(core.storage, target.storage);
      const baseline = await contentDigest(target.storage);
      const nodeId = created.originNodeId;

      async function refused(change: Change, code: ErrorCode, match?: RegExp): Promise<void> {
        await assert.rejects(
          target.storage.transaction(async (tx) => {
            // A harmless change first, so a partial apply would show in the digest.
            await applyChange(tx, { ...created, payload: { channel: { ...(created.payload.channel as object), id: newId(), name: 'apply:other' } } });
            await applyChange(tx, change);
          }),
          isCode(code, match),
        );
        assert.deepEqual(await contentDigest(target.storage), baseline);
      }
      const postOf = (over: Record<string, unknown>) => ({ ...postCreated, payload: { ...postCreated.payload, post: { ...(postCreated.payload.post as object), ...over } } });

      await refused({ ...created, type: 'channel.renamed' as Change['type'] }, 'CHANGE_UNSUPPORTED', /channel\.renamed/);
      await refused({ ...created, payloadVersion: 2 }, 'CHANGE_UNSUPPORTED', /version 2/);
      await refused({ ...created, payload: {} }, 'CHANGE_INVALID', /payload channel/);
      await refused({ ...postCreated, payload: { post: postCreated.payload.post } }, 'CHANGE_INVALID', /channelName/);
      await refused(postOf({ body: 42 }), 'CHANGE_INVALID', /post\.body/);
      await refused(postOf({ id: 'not-a-uuid' }), 'CHANGE_INVALID', /UUID/);
      await refused(postOf({ extra: true }), 'CHANGE_INVALID');
      await refused(postOf({ id: newId(), body: 'nul\u0000' }), 'CHANGE_INVALID', /body/);
      await refused(postOf({ id: newId(), channelId: newId() }), 'CHANGE_INVALID', /does not exist/);
      await refused(postOf({ id: newId(), seq: 5 }), 'CHANGE_INVALID', /seq 5/);
      await refused(postOf({ id: newId(), originNodeId: newId() }), 'CHANGE_INVALID', /origin/);
      // A channel name taken here is no refusal: the channel gets a local name (domain-replication.test.ts).
      await refused({ ...created, payload: { channel: { ...(created.payload.channel as object), id: newId(), name: 'x:y', namespace: 'z' } } }, 'CHANGE_INVALID', /namespace/);
      const edited: Change = { ...postCreated, type: 'post.edited', payload: { post: { ...post, id: newId(), body: 'edited', edited: true } } };
      await refused(edited, 'CHANGE_INVALID', /does not exist/);
      await refused({ ...edited, payload: { post: { ...post, seq: 9, body: 'edited', edited: true } } }, 'CHANGE_INVALID', /post\.seq differs/);
      await refused({ ...created, type: 'link.created', payload: { link: { id: newId(), fromPostId: post.id, toPostId: newId(), label: '', originNodeId: nodeId, createdAt: 1 } } }, 'CHANGE_INVALID', /does not exist/);
      // An id that is taken by another entity is not "already applied".
      await refused(postOf({ seq: 2 }), 'CHANGE_INVALID', /post\.seq differs/);
      await refused({ ...created, payload: { channel: { ...(created.payload.channel as object), createdAt: 1 } } }, 'CHANGE_INVALID', /channel\.createdAt differs/);
      // A payload that is not even an object.
      await refused({ ...created, payload: null as unknown as Record<string, unknown> }, 'CHANGE_INVALID');
    });

    test('stale and repeated updates are no-ops; a tombstone stays a tombstone', async () => {
      const ch = await core.operator.createChannel(OWNER, { name: 'apply:order' });
      const p = await core.operator.createPost(OWNER, { channelId: ch.id, body: 'v1' });
      await core.operator.editPost(OWNER, p.id, { body: 'v2' });
      await core.operator.updateChannel(OWNER, ch.id, { description: 'd2' });
      await core.operator.deletePost(OWNER, p.id);
      const changes = await allChanges(core);
      await replayLog(core.storage, target.storage);
      const final = await contentDigest(target.storage);
      assert.deepEqual(final, await contentDigest(core.storage));
      // Every change again, in order and then backwards: nothing moves.
      await target.storage.transaction(async (tx) => {
        for (const c of [...changes, ...[...changes].reverse()]) await applyChange(tx, c);
      });
      assert.deepEqual(await contentDigest(target.storage), final);
      const stored = await target.storage.getPost(p.id);
      assert.equal(stored?.deleted, true);
      assert.equal((await target.storage.getChannel(ch.id))?.lastSeq, 1);
    });
  });
}
