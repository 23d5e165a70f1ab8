// Every content route's happy path over HTTP (channels, posts, links, changes), on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Change, Channel, Link, Post } from '../../src/model/content.js';
import { OWNER } from '../../src/domain/actor.js';
import { fallbackNames } from '../../src/domain/channel-names.js';
import { createStorage } from '../../src/storage/index.js';
import { openTestCore } from '../helpers/core.js';
import { storageBackends } from '../helpers/storage.js';
import { bearer, runScenario, startHarness, type Harness } from './http-harness.js';

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Walks a paginated list to its end (bounded), checking each page's size. */
async function walkPages<T>(app: FastifyInstance, url: string, headers: Record<string, string>, limit: number): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 50; pages++) {
    const sep = url.includes('?') ? '&' : '?';
    const res: LightMyRequestResponse = await app.inject({ url: `${url}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, headers });
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json() as Page<T>;
    assert.ok(page.items.length <= limit);
    all.push(...page.items);
    if (page.nextCursor === null) return all;
    assert.equal(page.items.length, limit, 'a page with a next cursor is full');
    cursor = page.nextCursor;
  }
  assert.fail('pagination did not end within 50 pages');
}

for (const backend of storageBackends) {
  describe(`HTTP content routes on ${backend.name}`, () => {
    let h: Harness;
    let auth: Record<string, string>;

    before(async () => {
      h = await startHarness(backend);
      auth = bearer(await h.login());
    });
    after(() => h.close());

    test('channels: create, get, list with pagination, update, delete', async () => {
      const created = await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: auth, payload: { name: 'chat:lobby', description: 'hi' } });
      assert.equal(created.statusCode, 201, created.body);
      const channel = created.json() as Channel;
      assert.equal(channel.name, 'chat:lobby');
      assert.equal(channel.namespace, 'chat');
      assert.equal(channel.description, 'hi');
      assert.equal(channel.originNodeId, h.core.node.id);
      assert.equal(typeof channel.createdAt, 'number');

      const got = await h.app.inject({ url: `/api/v1/channels/${channel.id}`, headers: auth });
      assert.equal(got.statusCode, 200);
      assert.deepEqual(got.json(), channel);

      const names = ['page:1', 'page:2', 'page:3', 'page:4', 'page:5'];
      for (const name of names) {
        const res = await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: auth, payload: { name } });
        assert.equal(res.statusCode, 201, res.body);
      }
      const listed = await walkPages<Channel>(h.app, '/api/v1/channels', auth, 2);
      assert.deepEqual(listed.map((c) => c.name), ['chat:lobby', ...names]);
      assert.equal(new Set(listed.map((c) => c.id)).size, listed.length, 'no channel twice');

      const patched = await h.app.inject({ method: 'PATCH', url: `/api/v1/channels/${channel.id}`, headers: auth, payload: { description: 'changed' } });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.equal((patched.json() as Channel).description, 'changed');
      assert.equal(((await h.app.inject({ url: `/api/v1/channels/${channel.id}`, headers: auth })).json() as Channel).description, 'changed');

      const victim = listed.find((c) => c.name === 'page:3')!;
      const deleted = await h.app.inject({ method: 'DELETE', url: `/api/v1/channels/${victim.id}`, headers: auth });
      assert.equal(deleted.statusCode, 204);
      assert.equal(deleted.body, '');
      assert.equal((await h.app.inject({ url: `/api/v1/channels/${victim.id}`, headers: auth })).statusCode, 404);
      const after = await walkPages<Channel>(h.app, '/api/v1/channels', auth, 50);
      assert.ok(!after.some((c) => c.id === victim.id));
    });

    test('an imported channel known here under a local name: addressed by it, shown with originName', async () => {
      await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: auth, payload: { name: 'chat:same' } });
      // Another node with a channel of the same name, imported into this one.
      const other = await openTestCore(createStorage({ url: ':memory:', dataDir: '' }), { name: 'other' });
      try {
        const theirs = await other.operator.createChannel(OWNER, { name: 'chat:same', description: 'from the other node' });
        await other.operator.createPost(OWNER, { channelId: theirs.id, body: 'imported' });
        await h.core.replication.importChunk(other.node.id, await other.storage.getChanges(1, 100));
        const [local] = fallbackNames('chat:same', other.node.id);
        const byName = await h.app.inject({ url: `/api/v1/channels?name=${encodeURIComponent(local!)}`, headers: auth });
        assert.equal(byName.statusCode, 200, byName.body);
        const [channel] = (byName.json() as Page<Channel>).items;
        assert.deepEqual([channel?.id, channel?.name, channel?.originName], [theirs.id, local, 'chat:same']);
        const got = await h.app.inject({ url: `/api/v1/channels/${theirs.id}`, headers: auth });
        assert.equal((got.json() as Channel).originName, 'chat:same');
        const mine = (await h.app.inject({ url: '/api/v1/channels?name=chat:same', headers: auth })).json() as Page<Channel>;
        assert.equal(mine.items.length, 1);
        assert.notEqual(mine.items[0]!.id, theirs.id);
        assert.equal('originName' in mine.items[0]!, false, 'no originName when the names are the same');
        const posts = await h.app.inject({ url: `/api/v1/channels/${theirs.id}/posts`, headers: auth });
        assert.deepEqual((posts.json() as Page<Post>).items.map((p) => p.body), ['imported']);
      } finally {
        await other.close();
      }
    });

    test('posts: create, list both ways with pagination, get, edit, delete', async () => {
      const channel = (await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: auth, payload: { name: 'posts:test' } })).json() as Channel;
      const posts: Post[] = [];
      for (let i = 1; i <= 5; i++) {
        const res = await h.app.inject({
          method: 'POST',
          url: `/api/v1/channels/${channel.id}/posts`,
          headers: auth,
          payload: { body: `post ${i}`, meta: { n: i, nested: { ok: true } }, ...(i === 1 ? { blobRefs: [`sha256://${'a'.repeat(64)}`] } : {}) },
        });
        assert.equal(res.statusCode, 201, res.body);
        posts.push(res.json() as Post);
      }
      assert.deepEqual(posts.map((p) => p.seq), [1, 2, 3, 4, 5]);
      assert.equal(posts[0]!.author, 'owner');
      assert.deepEqual(posts[0]!.meta, { n: 1, nested: { ok: true } });
      assert.deepEqual(posts[0]!.blobRefs, [`sha256://${'a'.repeat(64)}`]);

      const asc = await walkPages<Post>(h.app, `/api/v1/channels/${channel.id}/posts`, auth, 2);
      assert.deepEqual(asc.map((p) => p.seq), [1, 2, 3, 4, 5]);
      const desc = await walkPages<Post>(h.app, `/api/v1/channels/${channel.id}/posts?order=desc`, auth, 2);
      assert.deepEqual(desc.map((p) => p.seq), [5, 4, 3, 2, 1]);

      const got = await h.app.inject({ url: `/api/v1/posts/${posts[1]!.id}`, headers: auth });
      assert.equal(got.statusCode, 200);
      assert.deepEqual(got.json(), posts[1]);

      const edited = await h.app.inject({ method: 'PATCH', url: `/api/v1/posts/${posts[1]!.id}`, headers: auth, payload: { body: 'edited' } });
      assert.equal(edited.statusCode, 200, edited.body);
      const editedPost = edited.json() as Post;
      assert.equal(editedPost.body, 'edited');
      assert.equal(editedPost.edited, true);
      assert.deepEqual(editedPost.meta, posts[1]!.meta, 'meta kept when only body is edited');

      const deleted = await h.app.inject({ method: 'DELETE', url: `/api/v1/posts/${posts[2]!.id}`, headers: auth });
      assert.equal(deleted.statusCode, 200, deleted.body);
      const tombstone = deleted.json() as Post;
      assert.equal(tombstone.deleted, true);
      assert.equal(tombstone.body, '');
      const again = await h.app.inject({ url: `/api/v1/posts/${posts[2]!.id}`, headers: auth });
      assert.equal((again.json() as Post).deleted, true, 'a deleted post stays readable as a tombstone');
    });

    test('links: create, get, list from both ends, delete', async () => {
      const channel = (await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: auth, payload: { name: 'links:test' } })).json() as Channel;
      const mk = async (body: string) =>
        (await h.app.inject({ method: 'POST', url: `/api/v1/channels/${channel.id}/posts`, headers: auth, payload: { body } })).json() as Post;
      const [a, b, c] = [await mk('a'), await mk('b'), await mk('c')];

      const created = await h.app.inject({ method: 'POST', url: '/api/v1/links', headers: auth, payload: { fromPostId: a.id, toPostId: b.id, label: 'cites' } });
      assert.equal(created.statusCode, 201, created.body);
      const ab = created.json() as Link;
      assert.equal(ab.label, 'cites');
      const ac = (await h.app.inject({ method: 'POST', url: '/api/v1/links', headers: auth, payload: { fromPostId: a.id, toPostId: c.id } })).json() as Link;
      assert.equal(ac.label, '');

      assert.deepEqual((await h.app.inject({ url: `/api/v1/links/${ab.id}`, headers: auth })).json(), ab);
      const fromA = (await h.app.inject({ url: `/api/v1/posts/${a.id}/links`, headers: auth })).json() as Page<Link>;
      assert.deepEqual(fromA.items.map((l) => l.id), [ab.id, ac.id]);
      assert.equal(fromA.nextCursor, null);
      const toB = (await h.app.inject({ url: `/api/v1/posts/${b.id}/links`, headers: auth })).json() as Page<Link>;
      assert.deepEqual(toB.items.map((l) => l.id), [ab.id]);

      const removed = await h.app.inject({ method: 'DELETE', url: `/api/v1/links/${ab.id}`, headers: auth });
      assert.equal(removed.statusCode, 204);
      assert.equal((await h.app.inject({ url: `/api/v1/links/${ab.id}`, headers: auth })).statusCode, 404);
      const fromAAfter = (await h.app.inject({ url: `/api/v1/posts/${a.id}/links`, headers: auth })).json() as Page<Link>;
      assert.deepEqual(fromAAfter.items.map((l) => l.id), [ac.id]);
    });

    test('changes: owner reads the log in serial order, page by page; a user its view, no credential nothing', async () => {
      const all: Change[] = [];
      let from = 1;
      for (let pages = 0; pages < 100; pages++) {
        const res = await h.app.inject({ url: `/api/v1/changes?from=${from}&limit=3`, headers: auth });
        assert.equal(res.statusCode, 200, res.body);
        const page = res.json() as { items: Change[]; next: number; nextCursor: string | null };
        all.push(...page.items);
        if (page.items.length < 3) {
          assert.equal(page.nextCursor, null);
          assert.equal(page.next, from + page.items.length);
          break;
        }
        assert.equal(page.nextCursor, String(page.next));
        from = page.next;
      }
      assert.ok(all.length >= 20, `the earlier tests wrote many changes, got ${all.length}`);
      assert.deepEqual(all.map((c) => c.serial), all.map((_, i) => i + 1), 'serials gapless from 1, in order');
      for (let i = 1; i < all.length; i++) assert.equal(all[i]!.prevHash, all[i - 1]!.hash, 'each change links to the previous');
      assert.equal(all[0]!.type, 'channel.created');
      assert.ok(all.some((c) => c.type === 'link.deleted'));

      // An app user reads the changes of the channels it may read (http-change-stream.test.ts).
      await runScenario(h.app, { name: 'app user reads changes', url: '/api/v1/changes', headers: bearer('user.alice'), expectStatus: 200 }, null);
      await runScenario(h.app, { name: 'no auth reads changes', url: '/api/v1/changes', expectStatus: 401, expectCode: 'UNAUTHENTICATED' }, null);
    });

    test('an app user (second resolver) may write posts but not manage channels', async () => {
      const channel = (await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: auth, payload: { name: 'users:test' } })).json() as Channel;
      const user = bearer('user.alice');
      const post = await h.app.inject({ method: 'POST', url: `/api/v1/channels/${channel.id}/posts`, headers: user, payload: { body: 'from alice' } });
      assert.equal(post.statusCode, 201, post.body);
      assert.equal((post.json() as Post).author, 'user:alice');
      const who = await h.app.inject({ url: '/api/v1/session', headers: user });
      assert.deepEqual(who.json(), { actor: { kind: 'user', userId: 'alice' }, source: 'bearer' });
      await runScenario(h.app, { name: 'user creates channel', method: 'POST', url: '/api/v1/channels', headers: user, json: { name: 'x' }, expectStatus: 403, expectCode: 'FORBIDDEN' }, null);
      const bobEdit = await h.app.inject({ method: 'PATCH', url: `/api/v1/posts/${(post.json() as Post).id}`, headers: bearer('user.bob'), payload: { body: 'bob was here' } });
      assert.equal(bobEdit.statusCode, 403);
    });

    test('posts: an Idempotency-Key header makes a retried create exactly-once; a bad key is 400', async () => {
      const ch = (await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: auth, payload: { name: 'idem:http' } })).json() as Channel;
      const url = `/api/v1/channels/${ch.id}/posts`;
      const send = (key: string) => h.app.inject({ method: 'POST', url, headers: { ...auth, 'idempotency-key': key }, payload: { body: 'once' } });
      const first = await send('req-7');
      assert.equal(first.statusCode, 201, first.body);
      const retry = await send('req-7');
      assert.equal(retry.statusCode, 201, retry.body);
      assert.deepEqual(retry.json(), first.json());
      const bad = await send('x'.repeat(300));
      assert.equal(bad.statusCode, 400, bad.body);
      assert.equal((bad.json() as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
      const list = (await h.app.inject({ url, headers: auth })).json() as Page<Post>;
      assert.equal(list.items.length, 1);
    });

    test('channels: ?name= finds one channel by name, or none; a malformed name is 400', async () => {
      const made = (await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: auth, payload: { name: 'byname:here' } })).json() as Channel;
      const found = await h.app.inject({ url: '/api/v1/channels?name=byname%3Ahere', headers: auth });
      assert.equal(found.statusCode, 200, found.body);
      assert.deepEqual(found.json(), { items: [made], nextCursor: null });
      const missing = await h.app.inject({ url: '/api/v1/channels?name=byname%3Anowhere', headers: auth });
      assert.deepEqual(missing.json(), { items: [], nextCursor: null });
      const bad = await h.app.inject({ url: '/api/v1/channels?name=bad%20name', headers: auth });
      assert.equal(bad.statusCode, 400, bad.body);
      assert.equal((bad.json() as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
    });
  });
}
