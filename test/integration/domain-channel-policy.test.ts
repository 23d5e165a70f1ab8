// The channel policy: what an application user may read and write, checked by every operation.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { OWNER, type Actor } from '../../src/domain/actor.js';
import { openNodeCore, type NodeCore } from '../../src/domain/node-core.js';
import type { ChannelPolicy } from '../../src/domain/permissions.js';
import { MycelError } from '../../src/errors.js';
import { silentLog } from '../helpers/core.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

// open:* read+write, ro:* read only, everything else closed.
const policy: ChannelPolicy = {
  allows: (_user, action, channel) => channel.startsWith('open:') || (action === 'read' && channel.startsWith('ro:')),
};
const alice: Actor = { kind: 'user', userId: 'alice' };
let handle: StorageHandle;
let core: NodeCore;

before(async () => {
  handle = await storageBackends[0]!.create();
  core = await openNodeCore(handle.storage, { identity: { name: 'p' }, sessionMinutes: 5, channelPolicy: policy, log: silentLog });
});
after(async () => {
  await core.close();
  await handle.cleanup();
});

const forbidden = (err: unknown) => err instanceof MycelError && err.code === 'FORBIDDEN';

test('users write only where the policy lets them; the owner everywhere', async () => {
  const open = await core.operator.createChannel(OWNER, { name: 'open:a' });
  const ro = await core.operator.createChannel(OWNER, { name: 'ro:a' });
  const closed = await core.operator.createChannel(OWNER, { name: 'closed:a' });
  const mine = await core.operator.createPost(alice, { channelId: open.id, body: 'ok' });
  await assert.rejects(core.operator.createPost(alice, { channelId: ro.id, body: 'x' }), forbidden);
  await assert.rejects(core.operator.createPost(alice, { channelId: closed.id, body: 'x' }), forbidden);
  await assert.rejects(core.operator.createPost(alice, { channel: 'closed:new', body: 'x', createChannel: true }), forbidden);
  await assert.rejects(core.operator.createPost(alice, { channel: 'closed:missing', body: 'x' }), forbidden);
  const ownerPost = await core.operator.createPost(OWNER, { channelId: closed.id, body: 'owner' });
  assert.equal(ownerPost.seq, 1);
  await core.operator.editPost(alice, mine.id, { body: 'edited' });
  const roPost = await core.operator.createPost(OWNER, { channelId: ro.id, body: 'readable' });
  await core.operator.createLink(alice, { fromPostId: mine.id, toPostId: roPost.id });
  // Links follow read rights on both ends (domain-link-rights.test.ts has the whole story).
  await assert.rejects(core.operator.createLink(alice, { fromPostId: mine.id, toPostId: ownerPost.id }), /No such post/);
});

test('users read only where the policy lets them', async () => {
  const closed = await core.operator.getChannel(OWNER, 'closed:a');
  const ro = await core.operator.getChannel(OWNER, 'ro:a');
  const roPost = (await core.operator.listPosts(OWNER, ro.id)).items[0]!;
  const closedPost = (await core.operator.listPosts(OWNER, closed.id)).items[0]!;
  assert.equal((await core.operator.getPost(alice, roPost.id)).body, 'readable');
  assert.equal((await core.operator.listPosts(alice, ro.id)).items.length, 1);
  await assert.rejects(core.operator.getPost(alice, closedPost.id), forbidden);
  await assert.rejects(core.operator.listPosts(alice, closed.id), forbidden);
  await assert.rejects(core.operator.getChannel(alice, closed.id), forbidden);
  await assert.rejects(core.operator.listLinks(alice, closedPost.id), forbidden);
  const visible = (await core.operator.listChannels(alice, { limit: 100 })).items.map((c) => c.name);
  assert.deepEqual(visible, ['open:a', 'ro:a']);
  assert.equal((await core.operator.listChannels(OWNER, { limit: 100 })).items.length, 3);
});

test('a channel looked up by name is absent for a user who may not read it', async () => {
  const byName = async (actor: Actor, name: string) => (await core.operator.listChannels(actor, { name })).items.map((c) => c.name);
  assert.deepEqual(await byName(alice, 'ro:a'), ['ro:a']);
  assert.deepEqual(await byName(alice, 'closed:a'), [], 'closed: no oracle, the same answer as a missing channel');
  assert.deepEqual(await byName(alice, 'closed:none'), []);
  assert.deepEqual(await byName(OWNER, 'closed:a'), ['closed:a']);
});
