// GET /api/v1/digest: the content digest over HTTP, the same as the domain computes, for the owner only.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OWNER } from '../../src/domain/actor.js';
import { contentDigest } from '../../src/domain/digest.js';
import { storageBackends } from '../helpers/storage.js';
import { bearer, startHarness, type Harness } from './http-harness.js';

for (const backend of storageBackends) {
  describe(`GET /api/v1/digest on ${backend.name}`, () => {
    let h: Harness;
    let auth: Record<string, string>;
    before(async () => {
      h = await startHarness(backend);
      auth = bearer(await h.login());
    });
    after(() => h.close());

    test('answers the owner with the digest, counts and per-kind digests, and follows writes', async () => {
      const empty = await h.app.inject({ method: 'GET', url: '/api/v1/digest', headers: auth });
      assert.equal(empty.statusCode, 200, empty.body);
      const e = empty.json() as { digest: string; channels: { count: number }; posts: { count: number }; links: { count: number } };
      assert.deepEqual([e.channels.count, e.posts.count, e.links.count], [0, 0, 0]);

      const ch = await h.core.operator.createChannel(OWNER, { name: 'digest:a' });
      const p = await h.core.operator.createPost(OWNER, { channelId: ch.id, body: 'hello' });
      await h.core.operator.createLink(OWNER, { fromPostId: p.id, toPostId: p.id, label: 'self' });
      const res = await h.app.inject({ method: 'GET', url: '/api/v1/digest', headers: auth });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as typeof e;
      assert.deepEqual(body, await contentDigest(h.core.storage));
      assert.deepEqual([body.channels.count, body.posts.count, body.links.count], [1, 1, 1]);
      assert.notEqual(body.digest, e.digest);
      assert.match(body.digest, /^sha256:[0-9a-f]{64}$/);
    });

    test('refuses a request without credentials', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/api/v1/digest' });
      assert.equal(res.statusCode, 401);
      assert.equal((res.json() as { error: { code: string } }).error.code, 'UNAUTHENTICATED');
    });
  });
}
