// Forwarded writes in the domain, on SQLite and PostgreSQL: the origin's authorisation of a
// client node's forwarded op (registration read-write, channel permissions, the node's own
// rights), and the child's seam: a write to another node's channel or post is never committed
// locally; without RemoteWrites it is NOT_CONNECTED_TO_ORIGIN; with one it lands at the origin,
// comes back and the caller gets its own copy.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OWNER, type Actor } from '../../src/domain/actor.js';
import { applyChange } from '../../src/domain/apply.js';
import type { ForwardedOp, ForwardResult, RemoteWrites } from '../../src/domain/forwarded-writes.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { MycelError, type ErrorCode } from '../../src/errors.js';
import { newId } from '../../src/lib/ids.js';
import { openTestCore } from '../helpers/core.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

const PASSWORD = 'node-secret-1';

const isCode = (code: ErrorCode) => (err: unknown) => {
  assert.ok(err instanceof MycelError, `expected MycelError ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return true;
};

/**
 * The seam in-process: forward runs the op at the parent's Operator, then the child imports
 * the parent's new changes (apply, as replication does) before it resolves.
 */
class InProcessForwarder implements RemoteWrites {
  imported = 0;
  calls: Array<{ originNodeId: string; op: ForwardedOp; actor: Actor }> = [];
  constructor(
    private readonly parent: NodeCore,
    private readonly childId: string,
    private readonly childHandle: StorageHandle,
  ) {}
  async forward(originNodeId: string, op: ForwardedOp, actor: Actor): Promise<ForwardResult> {
    this.calls.push({ originNodeId, op, actor });
    assert.equal(originNodeId, this.parent.node.id);
    const result = await this.parent.operator.executeForwarded(this.childId, op);
    await this.catchUp();
    return result;
  }
  async catchUp(): Promise<void> {
    const changes = await this.parent.storage.getChanges(this.imported + 1, 10_000);
    await this.childHandle.storage.transaction(async (tx) => {
      for (const change of changes) await applyChange(tx, change);
    });
    this.imported += changes.length;
  }
}

for (const backend of storageBackends) {
  describe(`forwarded writes at the origin on ${backend.name}`, () => {
    let handle: StorageHandle;
    let core: NodeCore;
    const writer = newId();
    const reader = newId();
    const limited = newId();
    const admin = newId();
    let open: string;
    let other: string;

    before(async () => {
      handle = await backend.create();
      core = await openTestCore(handle.storage);
      await core.clientNodes.register(OWNER, { nodeId: writer, password: PASSWORD, writeAccess: 'read-write' });
      await core.clientNodes.register(OWNER, { nodeId: reader, password: PASSWORD });
      await core.clientNodes.register(OWNER, { nodeId: limited, password: PASSWORD, writeAccess: 'read-write', channels: ['lab:*'] });
      await core.clientNodes.register(OWNER, { nodeId: admin, password: PASSWORD, writeAccess: 'read-write', asOwner: true });
      open = (await core.operator.createChannel(OWNER, { name: 'lab:open' })).id;
      other = (await core.operator.createChannel(OWNER, { name: 'news:other' })).id;
    });
    after(async () => {
      await core.close();
      await handle.cleanup();
    });

    const create = (channelId: string, extra: Partial<ForwardedOp> = {}): ForwardedOp =>
      ({ v: 1, type: 'post.create', channelId, body: 'forwarded', meta: { k: 1 }, blobRefs: [], ...extra }) as ForwardedOp;

    test('a read-write node creates a post: author node:<id>, the result names the change that carried it', async () => {
      const head = await core.storage.readChangeHead();
      const result = await core.operator.executeForwarded(writer, create(open));
      assert.ok(result.entity && 'author' in result.entity);
      assert.equal(result.entity.author, `node:${writer}`);
      assert.deepEqual(result.change, { originNodeId: core.node.id, originSerial: head.serial + 1 });
      const [change] = await core.storage.getChanges(head.serial + 1, 1);
      assert.equal(change?.type, 'post.created');
      assert.equal((await core.storage.getPost(result.entity.id))?.body, 'forwarded');
    });

    test('read-only, unregistered: NODE_READ_ONLY, and nothing is written', async () => {
      const before = await core.storage.countChanges();
      await assert.rejects(core.operator.executeForwarded(reader, create(open)), isCode('NODE_READ_ONLY'));
      await assert.rejects(core.operator.executeForwarded(newId(), create(open)), isCode('NODE_READ_ONLY'));
      assert.equal(await core.storage.countChanges(), before);
    });

    test('a channel outside the node’s patterns: CHANNEL_NOT_PERMITTED; inside: written', async () => {
      const before = await core.storage.countChanges();
      await assert.rejects(core.operator.executeForwarded(limited, create(other)), isCode('CHANNEL_NOT_PERMITTED'));
      await assert.rejects(core.operator.executeForwarded(limited, { v: 1, type: 'channel.update', channelId: other, description: 'x' }), isCode('FORBIDDEN'));
      assert.equal(await core.storage.countChanges(), before);
      const ok = await core.operator.executeForwarded(limited, create(open));
      assert.ok(ok.change);
      // Its post in a permitted channel it may edit; a post of a channel outside its patterns it may not touch.
      const elsewhere = await core.operator.createPost(OWNER, { channelId: other, body: 'owner' });
      await assert.rejects(core.operator.executeForwarded(limited, { v: 1, type: 'post.delete', postId: elsewhere.id }), isCode('CHANNEL_NOT_PERMITTED'));
    });

    test('the node’s own rights: its own posts only, channels need owner rights', async () => {
      const mine = await core.operator.executeForwarded(writer, create(open));
      const edited = await core.operator.executeForwarded(writer, { v: 1, type: 'post.edit', postId: mine.entity!.id, body: 'edited' });
      assert.equal((edited.entity as { body: string }).body, 'edited');
      const owners = await core.operator.createPost(OWNER, { channelId: open, body: 'the owner’s' });
      await assert.rejects(core.operator.executeForwarded(writer, { v: 1, type: 'post.edit', postId: owners.id, body: 'x' }), isCode('FORBIDDEN'));
      await assert.rejects(core.operator.executeForwarded(writer, { v: 1, type: 'channel.update', channelId: open, description: 'x' }), isCode('FORBIDDEN'));
      const deleted = await core.operator.executeForwarded(writer, { v: 1, type: 'post.delete', postId: mine.entity!.id });
      assert.equal((deleted.entity as { deleted: boolean }).deleted, true);
      // An owner node manages channels.
      const updated = await core.operator.executeForwarded(admin, { v: 1, type: 'channel.update', channelId: open, description: 'by the admin node' });
      assert.equal((updated.entity as { description: string }).description, 'by the admin node');
      const gone = (await core.operator.createChannel(OWNER, { name: 'lab:gone' })).id;
      const removed = await core.operator.executeForwarded(admin, { v: 1, type: 'channel.delete', channelId: gone });
      assert.equal(removed.entity, null);
      assert.ok(removed.change);
      assert.equal(await core.storage.getChannel(gone), null);
    });

    test('a repeated idempotency key answers the first post and no change: exactly once across a retry', async () => {
      const first = await core.operator.executeForwarded(writer, create(open, { idempotencyKey: 'fwd-1' }));
      const before = await core.storage.countChanges();
      const again = await core.operator.executeForwarded(writer, create(open, { idempotencyKey: 'fwd-1', body: 'retry' }));
      assert.equal(again.entity!.id, first.entity!.id);
      assert.equal(again.change, null);
      assert.equal(await core.storage.countChanges(), before);
    });

    test('a malformed or unknown-version op is VALIDATION_FAILED', async () => {
      for (const bad of [null, {}, { ...create(open), v: 2 }, { ...create(open), extra: 1 }, { v: 1, type: 'link.create' }, { v: 1, type: 'post.create', channelId: 'x' }]) {
        await assert.rejects(core.operator.executeForwarded(writer, bad), isCode('VALIDATION_FAILED'), JSON.stringify(bad));
      }
    });
  });

  describe(`the child's side of forwarded writes on ${backend.name}`, () => {
    let parentHandle: StorageHandle;
    let childHandle: StorageHandle;
    let parent: NodeCore;
    let child: NodeCore;
    let forwarder: InProcessForwarder;
    let channelId: string;
    const alice: Actor = { kind: 'user', userId: 'alice' };

    before(async () => {
      parentHandle = await backend.create();
      childHandle = await backend.create();
      parent = await openTestCore(parentHandle.storage, { name: 'parent', ownerPassword: 'owner-secret' });
      child = await openTestCore(childHandle.storage, { name: 'child', ownerPassword: 'owner-secret' });
      await parent.clientNodes.register(OWNER, { nodeId: child.node.id, password: PASSWORD, writeAccess: 'read-write', asOwner: true });
      channelId = (await parent.operator.createChannel(OWNER, { name: 'lab:shared' })).id;
      forwarder = new InProcessForwarder(parent, child.node.id, childHandle);
      await forwarder.catchUp();
    });
    after(async () => {
      await child.close();
      await parent.close();
      await childHandle.cleanup();
      await parentHandle.cleanup();
    });

    test('without RemoteWrites, every write to the parent’s channel is NOT_CONNECTED_TO_ORIGIN and nothing is committed here', async () => {
      const before = await child.storage.countChanges();
      await assert.rejects(child.operator.createPost(OWNER, { channelId, body: 'x' }), isCode('NOT_CONNECTED_TO_ORIGIN'));
      await assert.rejects(child.operator.createPost(alice, { channel: 'lab:shared', body: 'x', createChannel: true }), isCode('NOT_CONNECTED_TO_ORIGIN'));
      await assert.rejects(child.operator.updateChannel(OWNER, channelId, { description: 'x' }), isCode('NOT_CONNECTED_TO_ORIGIN'));
      await assert.rejects(child.operator.deleteChannel(OWNER, channelId), isCode('NOT_CONNECTED_TO_ORIGIN'));
      const parentPost = await parent.operator.createPost(OWNER, { channelId, body: 'at the parent' });
      await forwarder.catchUp();
      await assert.rejects(child.operator.editPost(OWNER, parentPost.id, { body: 'x' }), isCode('NOT_CONNECTED_TO_ORIGIN'));
      await assert.rejects(child.operator.deletePost(OWNER, parentPost.id), isCode('NOT_CONNECTED_TO_ORIGIN'));
      assert.equal(await child.storage.countChanges(), before, 'no local change for another node’s entity');
      assert.equal((await child.storage.getChannel(channelId))?.description, '');
      assert.equal((await child.storage.getPost(parentPost.id))?.body, 'at the parent');
      // The child's own channels are written here as ever.
      const own = await child.operator.createChannel(OWNER, { name: 'lab:mine' });
      await child.operator.createPost(OWNER, { channelId: own.id, body: 'local' });
      assert.equal(await child.storage.countChanges(), before + 2);
    });

    test('the child’s rights are checked before anything is forwarded', async () => {
      const calls = forwarder.calls.length;
      child.operator.setRemoteWrites(forwarder);
      try {
        await assert.rejects(child.operator.updateChannel(alice, channelId, { description: 'x' }), isCode('FORBIDDEN'));
        await assert.rejects(child.operator.createPost(alice, { channelId, body: 'x', blobRefs: ['not a blob ref'] }), isCode('VALIDATION_FAILED'));
        assert.equal(forwarder.calls.length, calls);
      } finally {
        child.operator.setRemoteWrites(null);
      }
    });

    test('with RemoteWrites, writes land at the parent, come back, and the caller gets the child’s copy', async () => {
      child.operator.setRemoteWrites(forwarder);
      try {
        const created = await child.operator.createPostAt(alice, { channel: 'lab:shared', createChannel: true, body: 'from the child', idempotencyKey: 'k1' });
        assert.equal(created.post.author, `node:${child.node.id}`, 'the parent sees the child node as the author');
        assert.equal(created.post.originNodeId, parent.node.id);
        assert.deepEqual(await parent.storage.getPost(created.post.id), created.post);
        assert.deepEqual(await child.storage.getPost(created.post.id), created.post);
        assert.ok(created.offset >= 1);
        const call = forwarder.calls.at(-1)!;
        assert.deepEqual(call.op, { v: 1, type: 'post.create', channelId, body: 'from the child', meta: {}, blobRefs: [], idempotencyKey: 'k1' });
        assert.deepEqual(call.actor, alice);

        // A retry with the key is answered here from the imported post, without a second forward.
        const calls = forwarder.calls.length;
        const retry = await child.operator.createPostAt(alice, { channel: 'lab:shared', createChannel: true, body: 'from the child', idempotencyKey: 'k1' });
        assert.deepEqual(retry.post, created.post);
        assert.equal(forwarder.calls.length, calls);

        const edited = await child.operator.editPost(OWNER, created.post.id, { body: 'edited at the child' });
        assert.equal(edited.body, 'edited at the child');
        assert.equal((await parent.storage.getPost(created.post.id))?.body, 'edited at the child');
        const deleted = await child.operator.deletePost(OWNER, created.post.id);
        assert.equal(deleted.deleted, true);
        const channel = await child.operator.updateChannel(OWNER, channelId, { description: 'set by the child' });
        assert.equal(channel.description, 'set by the child');
        assert.equal((await parent.storage.getChannel(channelId))?.description, 'set by the child');
        await child.operator.deleteChannel(OWNER, channelId);
        assert.equal(await parent.storage.getChannel(channelId), null);
        assert.equal(await child.storage.getChannel(channelId), null);
      } finally {
        child.operator.setRemoteWrites(null);
      }
    });
  });
}
