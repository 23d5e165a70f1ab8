// Importing another node's change log (src/domain/replication.ts) between in-process node
// cores on SQLite and PostgreSQL: copied in chunks the content digests agree, propagation is
// transitive, repeated and overlapping chunks are no-ops, a gap, a tampered hash or an unknown
// change is refused with its code and applies nothing, a node's own changes coming back are
// skipped, the cursor survives a reopen, and channel names that collide resolve as
// docs/network.md says.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import { OWNER } from '../../src/domain/actor.js';
import { changeChannelNames } from '../../src/domain/change-scope.js';
import { changeHash, GENESIS_HASH, verifyChain } from '../../src/domain/changelog.js';
import { fallbackNames } from '../../src/domain/channel-names.js';
import type { CommittedStreamEvent } from '../../src/domain/commit-hook.js';
import { contentDigest } from '../../src/domain/digest.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import type { ImportResult } from '../../src/domain/replication.js';
import { verifyContent } from '../../src/domain/verify-content.js';
import { MycelError, type ErrorCode } from '../../src/errors.js';
import type { Change } from '../../src/model/content.js';
import { createStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { opArb, runOps } from '../helpers/content-ops.js';
import { openTestCore } from '../helpers/core.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

function isCode(code: ErrorCode, details?: Record<string, unknown>) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof MycelError, String(err));
    assert.equal(err.code, code, err.message);
    if (details) for (const [k, v] of Object.entries(details)) assert.deepEqual(err.details?.[k], v, `details.${k}`);
    return true;
  };
}

async function memoryStorage(): Promise<Storage> {
  const s = createStorage({ url: ':memory:', dataDir: '' });
  await s.migrate();
  return s;
}

/** Pulls `source`'s log into `target` from target's cursor, `chunk` changes at a time, until caught up. */
async function pull(source: NodeCore, target: NodeCore, chunk = 100): Promise<ImportResult[]> {
  const results: ImportResult[] = [];
  for (let guard = 0; guard < 100_000; guard++) {
    const cursor = await target.replication.cursorOf(source.node.id);
    const changes = await source.storage.getChanges(cursor.serial + 1, chunk);
    if (changes.length === 0) return results;
    results.push(await target.replication.importChunk(source.node.id, changes));
  }
  throw new Error('pull did not converge');
}

/** A little of everything the Operator writes, in two channels. */
async function populate(core: NodeCore, prefix = 'rep'): Promise<void> {
  const a = await core.operator.createChannel(OWNER, { name: `${prefix}:a`, description: 'first' });
  const b = await core.operator.createChannel(OWNER, { name: `${prefix}:b` });
  const gone = await core.operator.createChannel(OWNER, { name: `${prefix}:gone` });
  await core.operator.updateChannel(OWNER, a.id, { description: 'first, updated' });
  const posts = [];
  for (let i = 0; i < 12; i++) {
    posts.push(await core.operator.createPost(OWNER, { channelId: i % 3 === 2 ? b.id : a.id, body: `post ${i}`, meta: { i }, ...(i === 4 ? { idempotencyKey: 'k4' } : {}) }));
  }
  await core.operator.createPost(OWNER, { channelId: gone.id, body: 'goes with its channel' });
  await core.operator.editPost(OWNER, posts[1]!.id, { body: 'edited' });
  await core.operator.deletePost(OWNER, posts[2]!.id);
  const l1 = await core.operator.createLink(OWNER, { fromPostId: posts[0]!.id, toPostId: posts[3]!.id, label: 'cites' });
  await core.operator.createLink(OWNER, { fromPostId: posts[3]!.id, toPostId: posts[5]!.id });
  await core.operator.deleteLink(OWNER, l1.id);
  await core.operator.deleteChannel(OWNER, gone.id);
}

/** Rebuilds a tampered chain from `from` on, so that only what the test changed is wrong. */
function rechain(changes: Change[], prevHash: string): Change[] {
  let prev = prevHash;
  return changes.map((c) => {
    const next = { ...c, prevHash: prev };
    next.hash = changeHash(prev, next);
    prev = next.hash;
    return next;
  });
}

for (const backend of storageBackends) {
  describe(`replication import on ${backend.name}`, () => {
    const handles: StorageHandle[] = [];
    const cores: NodeCore[] = [];
    async function node(name: string): Promise<NodeCore> {
      const h = await backend.create();
      handles.push(h);
      const core = await openTestCore(h.storage, { name, ownerPassword: 'owner-secret' });
      cores.push(core);
      return core;
    }
    let a: NodeCore;
    let b: NodeCore;

    beforeEach(async () => {
      a = await node('a');
      b = await node('b');
    });
    afterEach(async () => {
      for (const c of cores.splice(0)) await c.close();
      for (const h of handles.splice(0)) await h.cleanup();
    });

    test('copies a log in chunks: equal digests, origins kept, own chain valid, cursor at the head, verify passes', async () => {
      await populate(a);
      const head = await a.storage.readChangeHead();
      assert.deepEqual(await b.replication.cursorOf(a.node.id), { peerNodeId: a.node.id, serial: 0, hash: GENESIS_HASH });
      const results = await pull(a, b, 7);
      assert.equal(results.length, Math.ceil(head.serial / 7));
      assert.equal(results.reduce((n, r) => n + r.imported, 0), head.serial);
      assert.equal(results.reduce((n, r) => n + r.skipped, 0), 0);
      assert.deepEqual(results.at(-1)!.cursor, { peerNodeId: a.node.id, serial: head.serial, hash: head.hash });
      assert.equal(results.at(-1)!.localSerial, head.serial);
      assert.deepEqual(await b.replication.cursorOf(a.node.id), { peerNodeId: a.node.id, ...head });

      assert.deepEqual(await contentDigest(b.storage), await contentDigest(a.storage));
      const ours = await b.storage.getChanges(1, 1000);
      const theirs = await a.storage.getChanges(1, 1000);
      assert.deepEqual(
        ours.map((c) => [c.originNodeId, c.originSerial, c.type, c.payloadVersion, c.payload, c.createdAt]),
        theirs.map((c) => [c.originNodeId, c.originSerial, c.type, c.payloadVersion, c.payload, c.createdAt]),
      );
      assert.ok((await verifyChain(b.storage)).ok);
      // A fresh child's log is its parent's, record for record (its hashes are the peer's, not recomputed, and verifyChain above recomputed them).
      assert.deepEqual(ours, theirs);
      const scratch = await memoryStorage();
      try {
        const verdict = await verifyContent(b.storage, scratch);
        assert.ok(verdict.ok, JSON.stringify(verdict));
      } finally {
        await scratch.close();
      }
      // The idempotency key came along: a retry at b finds the imported post.
      const [k4] = (await a.storage.getChanges(1, 1000)).filter((c) => c.payload.idempotencyKey === 'k4');
      const post = k4!.payload.post as { id: string; channelId: string };
      assert.equal((await b.storage.getPostByIdempotencyKey(post.channelId, 'k4'))?.id, post.id);
    });

    test('propagates transitively: a → b → c, and c pulling a directly afterwards skips everything', async () => {
      const c = await node('c');
      await populate(a);
      await pull(a, b, 5);
      await b.operator.createChannel(OWNER, { name: 'rep:from-b' });
      await pull(b, c, 9);
      const digest = await contentDigest(b.storage);
      assert.deepEqual(await contentDigest(c.storage), digest);
      const origins = (await c.storage.getChanges(1, 1000)).map((x) => x.originNodeId);
      assert.ok(origins.includes(a.node.id) && origins.includes(b.node.id));
      // The same changes by another way: c already holds all of a's.
      const results = await pull(a, c, 50);
      assert.equal(results.reduce((n, r) => n + r.imported, 0), 0);
      assert.equal(results.reduce((n, r) => n + r.skipped, 0), (await a.storage.readChangeHead()).serial);
      assert.deepEqual(await contentDigest(c.storage), digest);
    });

    test('a repeated or overlapping chunk is a no-op for what was imported', async () => {
      await populate(a);
      const all = await a.storage.getChanges(1, 1000);
      const first = await b.replication.importChunk(a.node.id, all.slice(0, 10));
      assert.equal(first.imported, 10);
      const again = await b.replication.importChunk(a.node.id, all.slice(0, 10));
      assert.deepEqual([again.imported, again.skipped, again.cursor.serial, again.localSerial], [0, 10, 10, 10]);
      const overlap = await b.replication.importChunk(a.node.id, all.slice(5, 15));
      assert.deepEqual([overlap.imported, overlap.skipped, overlap.cursor.serial, overlap.localSerial], [5, 5, 15, 15]);
      const empty = await b.replication.importChunk(a.node.id, []);
      assert.deepEqual([empty.imported, empty.skipped, empty.cursor.serial], [0, 0, 15]);
      await pull(a, b);
      assert.equal(await b.storage.countChanges(), all.length);
      assert.deepEqual(await contentDigest(b.storage), await contentDigest(a.storage));
    });

    test('a chunk mixing changes held by origin with new ones, from two origins, skips exactly the held ones', async () => {
      const c = await node('c');
      await populate(a);
      const all = await a.storage.getChanges(1, 1000);
      assert.ok(all.length >= 20);
      // b's log: a's 1–10, one change of b's own, a's 11–20.
      await b.replication.importChunk(a.node.id, all.slice(0, 10));
      await b.operator.createChannel(OWNER, { name: 'rep:from-b' });
      await b.replication.importChunk(a.node.id, all.slice(10, 20));
      // c holds a's 1–15 by pulling a directly, then takes b's whole log in one chunk.
      await c.replication.importChunk(a.node.id, all.slice(0, 15));
      const fromB = await b.storage.getChanges(1, 1000);
      assert.equal(fromB.length, 21);
      const result = await c.replication.importChunk(b.node.id, fromB);
      assert.deepEqual([result.imported, result.skipped, result.cursor.serial], [6, 15, 21]);
      const held = (await c.storage.getChanges(1, 1000)).map((x) => `${x.originNodeId === a.node.id ? 'a' : 'b'}${x.originSerial}`);
      assert.deepEqual(held, [...all.slice(0, 15).map((x) => `a${x.originSerial}`), 'b11', ...all.slice(15, 20).map((x) => `a${x.originSerial}`)]);
      assert.deepEqual(await contentDigest(c.storage), await contentDigest(b.storage));
      // The same chunk again: all of it is before the cursor now.
      const again = await c.replication.importChunk(b.node.id, fromB);
      assert.deepEqual([again.imported, again.skipped], [0, 21]);
    });

    test('the same origin change twice in one chunk is imported once and skipped the second time', async () => {
      await populate(a);
      const [created] = await a.storage.getChanges(1, 1);
      // A peer whose log (validly chained) carries a's first change twice.
      const twice = rechain([{ ...created!, serial: 1 }, { ...created!, serial: 2 }], GENESIS_HASH);
      const peer = '0190f0f0-0000-7000-8000-000000000001';
      const result = await b.replication.importChunk(peer, twice);
      assert.deepEqual([result.imported, result.skipped, result.cursor.serial, result.localSerial], [1, 1, 2, 1]);
      assert.equal((await b.storage.getChanges(1, 10)).length, 1);
    });

    test('several chunks in flight commit in order through the group commit', async () => {
      await populate(a);
      const all = await a.storage.getChanges(1, 1000);
      const chunks: Change[][] = [];
      for (let i = 0; i < all.length; i += 4) chunks.push(all.slice(i, i + 4));
      const results = await Promise.all(chunks.map((chunk) => b.replication.importChunk(a.node.id, chunk)));
      assert.deepEqual(results.map((r) => r.cursor.serial), chunks.map((chunk) => chunk.at(-1)!.serial));
      assert.deepEqual(await contentDigest(b.storage), await contentDigest(a.storage));
    });

    test('a gap is REPLICATION_GAP and applies nothing; pulling again from the cursor repairs it', async () => {
      await populate(a);
      const all = await a.storage.getChanges(1, 1000);
      await b.replication.importChunk(a.node.id, all.slice(0, 5));
      const head = await b.storage.readChangeHead();
      await assert.rejects(b.replication.importChunk(a.node.id, all.slice(6, 10)), isCode('REPLICATION_GAP', { expected: 6, got: 7 }));
      // Out of order inside a chunk.
      await assert.rejects(b.replication.importChunk(a.node.id, [all[5]!, all[7]!, all[6]!]), isCode('REPLICATION_GAP', { expected: 7, got: 8 }));
      await assert.rejects(b.replication.importChunk(a.node.id, [all[5]!, all[6]!, all[4]!]), isCode('REPLICATION_GAP', { expected: 8, got: 5 }));
      assert.deepEqual(await b.storage.readChangeHead(), head);
      assert.equal((await b.replication.cursorOf(a.node.id)).serial, 5);
      await pull(a, b);
      assert.deepEqual(await contentDigest(b.storage), await contentDigest(a.storage));
    });

    test('a tampered change is REPLICATION_HASH_MISMATCH and applies nothing of its chunk', async () => {
      await populate(a);
      const all = await a.storage.getChanges(1, 1000);
      await b.replication.importChunk(a.node.id, all.slice(0, 5));
      const head = await b.storage.readChangeHead();
      const digest = await contentDigest(b.storage);
      const chunk = all.slice(5, 10);
      // The payload changed, the hash left as it was.
      const payload = { ...chunk[2]!.payload, tampered: true };
      await assert.rejects(
        b.replication.importChunk(a.node.id, chunk.map((c, i) => (i === 2 ? { ...c, payload } : c))),
        isCode('REPLICATION_HASH_MISMATCH', { serial: 8 }),
      );
      // The change re-hashed, so it no longer links to its predecessor.
      await assert.rejects(
        b.replication.importChunk(a.node.id, [...chunk.slice(0, 2), ...rechain([{ ...chunk[2]!, payload }], 'e'.repeat(64)), ...chunk.slice(3)]),
        isCode('REPLICATION_HASH_MISMATCH', { serial: 8 }),
      );
      // The whole rest of the chain re-hashed: the first change no longer links to the cursor.
      await assert.rejects(b.replication.importChunk(a.node.id, rechain(chunk, 'd'.repeat(64))), isCode('REPLICATION_HASH_MISMATCH', { serial: 6 }));
      assert.deepEqual(await b.storage.readChangeHead(), head);
      assert.deepEqual(await contentDigest(b.storage), digest);
      assert.equal((await b.replication.cursorOf(a.node.id)).serial, 5);
    });

    test('an unknown type or payload version is CHANGE_UNSUPPORTED, a malformed change CHANGE_INVALID, and nothing of the chunk is applied', async () => {
      await populate(a);
      const all = await a.storage.getChanges(1, 1000);
      await b.replication.importChunk(a.node.id, all.slice(0, 4));
      const head = await b.storage.readChangeHead();
      const digest = await contentDigest(b.storage);
      const rest = all.slice(4, 8);
      const unknownType = rechain([rest[0]!, rest[1]!, { ...rest[2]!, type: 'post.pinned' as Change['type'] }, rest[3]!], all[3]!.hash);
      await assert.rejects(b.replication.importChunk(a.node.id, unknownType), isCode('CHANGE_UNSUPPORTED', { serial: 7 }));
      const unknownVersion = rechain([rest[0]!, { ...rest[1]!, payloadVersion: 9 }], all[3]!.hash);
      await assert.rejects(b.replication.importChunk(a.node.id, unknownVersion), isCode('CHANGE_UNSUPPORTED', { payloadVersion: 9 }));
      const badPayload = rechain([rest[0]!, { ...rest[1]!, payload: { post: 'not a post' } }], all[3]!.hash);
      await assert.rejects(b.replication.importChunk(a.node.id, badPayload), isCode('CHANGE_INVALID', { serial: 6 }));
      await assert.rejects(b.replication.importChunk(a.node.id, [{ ...rest[0]!, serial: -1 }]), isCode('CHANGE_INVALID'));
      await assert.rejects(b.replication.importChunk(a.node.id, [{ ...rest[0]!, hash: 'XYZ' }]), isCode('CHANGE_INVALID'));
      await assert.rejects(b.replication.importChunk(a.node.id, [null as unknown as Change]), isCode('CHANGE_INVALID'));
      assert.deepEqual(await b.storage.readChangeHead(), head);
      assert.deepEqual(await contentDigest(b.storage), digest);
      assert.equal((await b.replication.cursorOf(a.node.id)).serial, 4);
    });

    test("a node's own changes coming back are skipped; both directions converge", async () => {
      await populate(a);
      await pull(a, b);
      // In a channel of b's own: a write into a's channel is forwarded to a, never committed at b.
      await b.operator.createPost(OWNER, { channel: 'own:at-b', createChannel: true, body: 'written at b' });
      const aHead = await a.storage.readChangeHead();
      const back = await pull(b, a);
      assert.equal(back.reduce((n, r) => n + r.imported, 0), 2, 'only b’s own channel and post are new to a');
      assert.equal(back.reduce((n, r) => n + r.skipped, 0), aHead.serial);
      assert.equal((await a.storage.readChangeHead()).serial, aHead.serial + 2);
      assert.deepEqual(await contentDigest(a.storage), await contentDigest(b.storage));
      // And a's record of it going back to b again is skipped there.
      const again = await pull(a, b);
      assert.equal(again.reduce((n, r) => n + r.imported, 0), 0);
      assert.deepEqual(await contentDigest(a.storage), await contentDigest(b.storage));
    });

    test('imported posts reach commit listeners with their stream events, by the local channel name', async () => {
      const ch = await a.operator.createChannel(OWNER, { name: 'rep:live' });
      const p = await a.operator.createPost(OWNER, { channelId: ch.id, body: 'hello' });
      await a.operator.editPost(OWNER, p.id, { body: 'hello again' });
      const seen: { changes: Change[]; events: CommittedStreamEvent[] }[] = [];
      b.hook.on((changes, events) => seen.push({ changes: [...changes], events: [...events] }));
      const advanced: number[] = [];
      b.storage.onLogAdvance((serial) => advanced.push(serial));
      await pull(a, b);
      assert.equal(seen.length, 1);
      assert.deepEqual(seen[0]!.changes.map((c) => c.type), ['channel.created', 'post.created', 'post.edited']);
      assert.deepEqual(seen[0]!.events.map((e) => [e.channel, e.event.offset, e.event.post.body]), [
        ['rep:live', 1, 'hello'],
        ['rep:live', 2, 'hello again'],
      ]);
      assert.deepEqual(advanced, [3]);
      assert.deepEqual((await b.storage.listStreamEvents(ch.id, { limit: 10 })).map((e) => e.post.body), ['hello', 'hello again']);
    });

    test('the cursor survives a reopen of the database and the import continues from it', async () => {
      await populate(a);
      const all = await a.storage.getChanges(1, 1000);
      await b.replication.importChunk(a.node.id, all.slice(0, 9));
      const bId = b.node.id;
      const bHandle = handles[1]!;
      await cores.splice(1, 1)[0]!.close();
      const reopened = await openTestCore(bHandle.open(), { name: 'b', ownerPassword: 'owner-secret' });
      cores.push(reopened);
      assert.equal(reopened.node.id, bId);
      assert.deepEqual(await reopened.replication.cursorOf(a.node.id), { peerNodeId: a.node.id, serial: 9, hash: all[8]!.hash });
      await pull(a, reopened, 4);
      assert.deepEqual(await contentDigest(reopened.storage), await contentDigest(a.storage));
    });

    test('a filtered link: serials with gaps import when each change carries its hash, and must increase', async () => {
      await populate(a);
      const all = await a.storage.getChanges(1, 1000);
      // The channel rep:b and its posts only (what a link permitted `rep:b` would carry: a
      // link's change only when both its posts are in permitted channels).
      const names = await Promise.all(all.map((c) => changeChannelNames(a.storage, c)));
      const some = all.filter((_, i) => names[i]!.length > 0 && names[i]!.every((n) => n === 'rep:b'));
      assert.ok(some.length >= 4 && some.length < all.length);
      await assert.rejects(b.replication.importChunk(a.node.id, some), isCode('REPLICATION_GAP'));
      await assert.rejects(b.replication.importChunk(a.node.id, [some[1]!, some[0]!], { filtered: true }), isCode('REPLICATION_GAP'));
      const tampered = { ...some[1]!, payload: { ...some[1]!.payload, x: 1 } };
      await assert.rejects(b.replication.importChunk(a.node.id, [some[0]!, tampered], { filtered: true }), isCode('REPLICATION_HASH_MISMATCH'));
      const result = await b.replication.importChunk(a.node.id, some, { filtered: true });
      assert.equal(result.imported, some.length);
      assert.equal(result.cursor.serial, some.at(-1)!.serial);
      const channel = await b.storage.getChannelByName('rep:b');
      assert.ok(channel);
      assert.equal((await b.storage.listPosts(channel.id, { limit: 100 })).length, 4);
      assert.equal(await b.storage.getChannelByName('rep:a'), null);
    });

    test('recordPeer keeps the profile a peer introduced itself with', async () => {
      await b.replication.recordPeer({ id: a.node.id, name: a.node.name, createdAt: a.node.createdAt });
      await b.replication.recordPeer({ id: a.node.id, name: 'a renamed', createdAt: a.node.createdAt });
      const peers = await b.storage.listPeers();
      assert.equal(peers.length, 1);
      assert.deepEqual([peers[0]!.nodeId, peers[0]!.name, peers[0]!.createdAt], [a.node.id, 'a renamed', a.node.createdAt]);
      assert.ok(peers[0]!.firstSeenAt <= peers[0]!.lastSeenAt);
      await assert.rejects(b.replication.recordPeer({ id: 'not-a-uuid', name: 'x', createdAt: 1 }), isCode('VALIDATION_FAILED'));
      await assert.rejects(b.replication.recordPeer({ id: a.node.id, name: '', createdAt: 1 }), isCode('VALIDATION_FAILED'));
    });

    describe('channel names', () => {
      test('an imported channel whose name is taken here gets a local name and keeps its replicated one', async () => {
        const mine = await b.operator.createChannel(OWNER, { name: 'chat:general', description: "b's own" });
        const theirs = await a.operator.createChannel(OWNER, { name: 'chat:general', description: "a's" });
        const p = await a.operator.createPost(OWNER, { channelId: theirs.id, body: 'from a' });
        await a.operator.updateChannel(OWNER, theirs.id, { description: "a's, updated" });
        await a.operator.editPost(OWNER, p.id, { body: 'from a, edited' });
        await pull(a, b);

        const [short] = fallbackNames('chat:general', a.node.id);
        assert.equal(short, `chat:general@${a.node.id.slice(-8)}`);
        const local = await b.operator.getChannel(OWNER, short!);
        assert.deepEqual([local.id, local.name, local.originName, local.description], [theirs.id, short, 'chat:general', "a's, updated"]);
        assert.equal((await b.operator.getChannel(OWNER, 'chat:general')).id, mine.id);
        assert.equal('originName' in (await b.operator.getChannel(OWNER, 'chat:general')), false);
        const posts = await b.operator.listPosts(OWNER, theirs.id);
        assert.deepEqual(posts.items.map((x) => x.body), ['from a, edited']);
        // Realtime addresses it by its local name: its stream events carry that name.
        assert.deepEqual((await b.storage.listStreamEvents(theirs.id, { limit: 10 })).map((e) => e.post.body), ['from a', 'from a, edited']);
        // A post written at b into it (forwarded to a, its origin, and imported back) carries
        // the channel's replicated name, and a's channel list by name still works there.
        await a.clientNodes.register(OWNER, { nodeId: b.node.id, password: 'node-secret-1', writeAccess: 'read-write' });
        b.operator.setRemoteWrites({
          forward: async (_origin, op) => {
            const result = await a.operator.executeForwarded(b.node.id, op);
            await pull(a, b);
            return result;
          },
        });
        await b.operator.createPost(OWNER, { channel: short!, body: 'from b' });
        const last = (await b.storage.getChanges((await b.storage.readChangeHead()).serial, 1))[0]!;
        assert.equal(last.payload.channelName, 'chat:general');
        assert.deepEqual(await changeChannelNames(b.storage, last), [short]);
        // The digest sees replicated names; a third node pulling b converges on it, and b's
        // tables verify against its log (replay takes the same name decisions).
        const c = await node('c');
        await pull(b, c);
        assert.deepEqual(await contentDigest(c.storage), await contentDigest(b.storage));
        const scratch = await memoryStorage();
        try {
          const verdict = await verifyContent(b.storage, scratch);
          assert.ok(verdict.ok, JSON.stringify(verdict));
        } finally {
          await scratch.close();
        }
        // b's change back to a lands in a's own channel by its replicated name.
        await pull(b, a);
        assert.deepEqual((await a.operator.listPosts(OWNER, theirs.id)).items.map((x) => x.body), ['from a, edited', 'from b']);
        assert.equal((await a.operator.getChannel(OWNER, 'chat:general')).id, theirs.id);
      });

      test('the long fallback when the short one is taken too, and CHANGE_INVALID when every name is', async () => {
        const [short, long] = fallbackNames('chat:x', a.node.id);
        await b.operator.createChannel(OWNER, { name: 'chat:x' });
        await b.operator.createChannel(OWNER, { name: short! });
        await a.operator.createChannel(OWNER, { name: 'chat:x' });
        await pull(a, b);
        assert.equal((await b.operator.getChannel(OWNER, long!)).originName, 'chat:x');

        const c = await node('c');
        for (const name of ['chat:y', ...fallbackNames('chat:y', a.node.id)]) await c.operator.createChannel(OWNER, { name });
        await a.operator.createChannel(OWNER, { name: 'chat:y' });
        const head = await c.storage.readChangeHead();
        await assert.rejects(pull(a, c), (err: unknown) => {
          assert.ok(err instanceof MycelError && err.code === 'CHANGE_INVALID', String(err));
          assert.match(err.message, /chat:y/);
          return true;
        });
        assert.equal((await c.replication.cursorOf(a.node.id)).serial, 0, 'replication stops at the chunk holding the channel that cannot be named');
        assert.deepEqual(await c.storage.readChangeHead(), head);
      });
    });
  });
}

describe('replication property', () => {
  test('any sequence of operations replicates in chunks of any size to an equal digest, transitively', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), async (ops, chunkAB, chunkBC) => {
        const a = await openTestCore(await memoryStorage(), { name: 'a' });
        const b = await openTestCore(await memoryStorage(), { name: 'b' });
        const c = await openTestCore(await memoryStorage(), { name: 'c' });
        try {
          const half = Math.ceil(ops.length / 2);
          await runOps(a, ops.slice(0, half));
          await pull(a, b, chunkAB);
          await runOps(a, ops.slice(half));
          await pull(a, b, chunkAB);
          await pull(b, c, chunkBC);
          const digest = await contentDigest(a.storage);
          assert.deepEqual(await contentDigest(b.storage), digest);
          assert.deepEqual(await contentDigest(c.storage), digest);
          assert.ok((await verifyChain(c.storage)).ok);
        } finally {
          await a.close();
          await b.close();
          await c.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
