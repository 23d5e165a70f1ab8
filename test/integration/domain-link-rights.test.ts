// Links and channel rights: a user sees and makes only links whose both ends it may read, and a
// post it may not read answers like one that does not exist (no existence oracle).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OWNER, type Actor } from '../../src/domain/actor.js';
import { openNodeCore, type NodeCore } from '../../src/domain/node-core.js';
import type { ChannelPolicy } from '../../src/domain/permissions.js';
import { MycelError, type ErrorCode } from '../../src/errors.js';
import { newId } from '../../src/lib/ids.js';
import type { Link, Post } from '../../src/model/content.js';
import { silentLog } from '../helpers/core.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

// open:* read+write (read only while `openReadOnly`), wo:* write only, hidden:* closed to users
// (as a namespace with `history: owner`).
let openReadOnly = false;
const policy: ChannelPolicy = {
  allows: (_user, action, channel) =>
    (channel.startsWith('open:') && (action === 'read' || !openReadOnly)) || (action === 'write' && channel.startsWith('wo:')),
};
const alice: Actor = { kind: 'user', userId: 'alice' };
const code = (expected: ErrorCode) => (err: unknown) => err instanceof MycelError && err.code === expected;

for (const backend of storageBackends) {
  describe(`links across channel rights (${backend.name})`, () => {
    let handle: StorageHandle;
    let core: NodeCore;
    let mine: Post;
    let openPost: Post;
    let hiddenPost: Post;
    let writeOnlyPost: Post;
    let toHidden: Link;
    let fromHidden: Link;
    let toOpen: Link;

    before(async () => {
      handle = await backend.create();
      core = await openNodeCore(handle.storage, { identity: { name: 'links' }, sessionMinutes: 5, channelPolicy: policy, log: silentLog });
      const ops = core.operator;
      const open = await ops.createChannel(OWNER, { name: 'open:a' });
      const hidden = await ops.createChannel(OWNER, { name: 'hidden:a' });
      const writeOnly = await ops.createChannel(OWNER, { name: 'wo:a' });
      mine = await ops.createPost(alice, { channelId: open.id, body: 'mine' });
      openPost = await ops.createPost(OWNER, { channelId: open.id, body: 'open' });
      hiddenPost = await ops.createPost(OWNER, { channelId: hidden.id, body: 'hidden' });
      writeOnlyPost = await ops.createPost(alice, { channelId: writeOnly.id, body: 'mine, unreadable' });
      toHidden = await ops.createLink(OWNER, { fromPostId: mine.id, toPostId: hiddenPost.id, label: 'secret label' });
      fromHidden = await ops.createLink(OWNER, { fromPostId: hiddenPost.id, toPostId: mine.id, label: 'back' });
      toOpen = await ops.createLink(OWNER, { fromPostId: mine.id, toPostId: openPost.id, label: 'visible' });
    });
    after(async () => {
      await core?.close();
      await handle?.cleanup();
    });

    it('a post’s links leave out those whose other end the user may not read; the owner sees all', async () => {
      const seen = await core.operator.listLinks(alice, mine.id);
      assert.deepEqual(seen.map((l) => l.id), [toOpen.id]);
      const all = await core.operator.listLinks(OWNER, mine.id);
      assert.deepEqual(new Set(all.map((l) => l.id)), new Set([toHidden.id, fromHidden.id, toOpen.id]));
    });

    it('a link with an end the user may not read is LINK_NOT_FOUND for it, either direction', async () => {
      assert.equal((await core.operator.getLink(alice, toOpen.id)).label, 'visible');
      await assert.rejects(core.operator.getLink(alice, toHidden.id), code('LINK_NOT_FOUND'));
      await assert.rejects(core.operator.getLink(alice, fromHidden.id), code('LINK_NOT_FOUND'));
      await assert.rejects(core.operator.getLink(alice, newId()), code('LINK_NOT_FOUND'));
      assert.equal((await core.operator.getLink(OWNER, toHidden.id)).label, 'secret label');
    });

    it('linking to a post the user may not read answers as for a post that does not exist', async () => {
      const hiddenTarget = await core.operator.createLink(alice, { fromPostId: mine.id, toPostId: hiddenPost.id }).catch((err: unknown) => err);
      const missingTarget = await core.operator.createLink(alice, { fromPostId: mine.id, toPostId: newId() }).catch((err: unknown) => err);
      assert.ok(code('POST_NOT_FOUND')(hiddenTarget), String(hiddenTarget));
      assert.ok(code('POST_NOT_FOUND')(missingTarget), String(missingTarget));
      assert.equal((hiddenTarget as MycelError).message, (missingTarget as MycelError).message);
      // Nothing was written.
      assert.equal((await core.operator.listLinks(OWNER, hiddenPost.id)).length, 2);
    });

    it('linking from a post the user may not read is POST_NOT_FOUND, even its own post', async () => {
      await assert.rejects(core.operator.createLink(alice, { fromPostId: hiddenPost.id, toPostId: mine.id }), code('POST_NOT_FOUND'));
      await assert.rejects(core.operator.createLink(alice, { fromPostId: writeOnlyPost.id, toPostId: mine.id }), code('POST_NOT_FOUND'));
    });

    it('a user links from its own readable, writable post to a readable post; not from another’s post', async () => {
      const made = await core.operator.createLink(alice, { fromPostId: mine.id, toPostId: openPost.id, label: 'mine' });
      assert.equal(made.toPostId, openPost.id);
      await assert.rejects(core.operator.createLink(alice, { fromPostId: openPost.id, toPostId: mine.id }), code('FORBIDDEN'));
      await core.operator.deleteLink(alice, made.id);
    });

    it('a user cannot delete a link it cannot see, even one from its own post', async () => {
      await assert.rejects(core.operator.deleteLink(alice, toHidden.id), code('LINK_NOT_FOUND'));
      assert.equal((await core.operator.getLink(OWNER, toHidden.id)).id, toHidden.id);
    });

    it('a user deletes a link from its own post only where it may still write', async () => {
      openReadOnly = true;
      try {
        await assert.rejects(core.operator.deleteLink(alice, toOpen.id), code('FORBIDDEN'));
      } finally {
        openReadOnly = false;
      }
      await core.operator.deleteLink(alice, toOpen.id);
    });
  });
}
