// What a newcomer sees first: GET / and GET /api/v1 describe the server and its API, and a
// trailing slash changes nothing, whatever the method.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Channel } from '../../src/model/content.js';
import { storageBackends } from '../helpers/storage.js';
import { bearer, startHarness, type Harness } from './http-harness.js';

describe('GET / and GET /api/v1', () => {
  let h: Harness;
  let auth: Record<string, string>;
  before(async () => {
    h = await startHarness(storageBackends[0]!);
    auth = bearer(await h.login());
  });
  after(() => h.close());

  test('GET / says this is a Mycel node, which one, and where its APIs are (no credential needed)', async () => {
    const res = await h.app.inject({ url: '/' });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { server: string; node: { id: string; name: string }; api: string; links: Record<string, string> };
    assert.equal(body.server, 'mycel');
    assert.equal(body.node.id, h.core.node.id);
    assert.equal(body.api, '/api/v1');
    assert.equal(body.links.openapi, '/api/v1/openapi.json');
  });

  test('GET /api/v1 (and /api/v1/) describes the API instead of answering 405', async () => {
    for (const url of ['/api/v1', '/api/v1/']) {
      const res = await h.app.inject({ url });
      assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
      const body = res.json() as { apiVersion: string; links: Record<string, string> };
      assert.equal(body.apiVersion, 'v1');
      const doc = await h.app.inject({ url: body.links.openapi! });
      assert.equal(doc.statusCode, 200, 'the advertised OpenAPI link works');
    }
  });

  test('a trailing slash behaves like none for GET, POST, PATCH and DELETE', async () => {
    const created = await h.app.inject({ method: 'POST', url: '/api/v1/channels/', headers: auth, payload: { name: 'slash:a' } });
    assert.equal(created.statusCode, 201, created.body);
    const channel = created.json() as Channel;
    assert.equal((await h.app.inject({ url: `/api/v1/channels/${channel.id}/`, headers: auth })).statusCode, 200);
    const patched = await h.app.inject({ method: 'PATCH', url: `/api/v1/channels/${channel.id}/`, headers: auth, payload: { description: 'd' } });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.equal((await h.app.inject({ method: 'DELETE', url: `/api/v1/channels/${channel.id}/`, headers: auth })).statusCode, 204);
    assert.equal((await h.app.inject({ url: '/api/v1/node/' })).statusCode, 200);
    const wrongMethod = await h.app.inject({ method: 'PUT', url: '/api/v1/channels/' , headers: auth });
    assert.equal(wrongMethod.statusCode, 405, 'a known path under another method is 405 with or without the slash');
  });
});
