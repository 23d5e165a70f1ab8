// The HTTP app on a real socket (port 0) driven by undici: the browser cookie flow with its
// Set-Cookie attributes and CSRF rule, the origin of a port-0 server, and requests that arrive
// while the server closes. SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { storageBackends } from '../helpers/storage.js';
import { OWNER_PASSWORD, startHarness, type Harness } from './http-harness.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request through `agent`, body read to the end (bounded by undici's own timeouts). */
async function call(agent: Agent, url: string, init: { method?: string; headers?: Record<string, string>; json?: unknown } = {}): Promise<Reply> {
  const headers = { ...(init.headers ?? {}) };
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const res = await request(url, {
    dispatcher: agent,
    method: (init.method ?? 'GET') as 'GET',
    headers,
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

/** Splits one Set-Cookie header into its name=value and its attributes (lower-cased names). */
function parseSetCookie(header: string): { name: string; value: string; attributes: Map<string, string> } {
  const [pair, ...attrs] = header.split(';').map((p) => p.trim());
  const eq = pair!.indexOf('=');
  const attributes = new Map<string, string>();
  for (const attr of attrs) {
    const i = attr.indexOf('=');
    attributes.set((i < 0 ? attr : attr.slice(0, i)).toLowerCase(), i < 0 ? '' : attr.slice(i + 1));
  }
  return { name: pair!.slice(0, eq), value: pair!.slice(eq + 1), attributes };
}

function onlySetCookie(reply: Reply): string {
  const raw = reply.headers['set-cookie'];
  const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  assert.equal(all.length, 1, `one Set-Cookie header, got ${JSON.stringify(all)}`);
  return all[0]!;
}

async function listen(h: Harness): Promise<string> {
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = h.app.server.address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

for (const backend of storageBackends) {
  describe(`HTTP on a real socket (${backend.name})`, () => {
    let agent: Agent;
    before(() => {
      agent = new Agent({ keepAliveTimeout: 1000, connections: 4 });
    });
    after(() => agent.close());

    test('browser cookie flow: Set-Cookie attributes, CSRF on writes, logout clears the cookie', async () => {
      const publicOrigin = 'https://mycel.example';
      const h = await startHarness(backend, { config: { server: { publicUrl: { scheme: 'https', host: 'mycel.example', port: 443 } } } });
      try {
        const base = await listen(h);
        const login = await call(agent, `${base}/api/v1/session`, { method: 'POST', headers: { origin: publicOrigin }, json: { password: OWNER_PASSWORD } });
        assert.equal(login.status, 201, login.body);
        const { token, expiresAt } = JSON.parse(login.body) as { token: string; expiresAt: number };
        const set = parseSetCookie(onlySetCookie(login));
        assert.equal(set.name, 'mycel_session');
        assert.equal(set.value, token);
        assert.ok(set.attributes.has('httponly'), 'HttpOnly');
        assert.equal(set.attributes.get('samesite'), 'Strict');
        assert.equal(set.attributes.get('path'), '/');
        assert.ok(set.attributes.has('secure'), 'Secure on an https public URL');
        assert.equal(Date.parse(set.attributes.get('expires')!), Math.floor(expiresAt / 1000) * 1000, 'expires with the session');

        const jar = { cookie: `mycel_session=${set.value}` };
        const who = await call(agent, `${base}/api/v1/session`, { headers: jar });
        assert.equal(who.status, 200);
        assert.deepEqual(JSON.parse(who.body), { actor: { kind: 'owner' }, source: 'cookie' });

        const noOrigin = await call(agent, `${base}/api/v1/channels`, { method: 'POST', headers: jar, json: { name: 'web:1' } });
        assert.equal(noOrigin.status, 403);
        assert.equal((JSON.parse(noOrigin.body) as { error: { code: string } }).error.code, 'CSRF_REJECTED');
        const crossSite = await call(agent, `${base}/api/v1/channels`, { method: 'POST', headers: { ...jar, origin: 'https://evil.example' }, json: { name: 'web:1' } });
        assert.equal(crossSite.status, 403);
        const sameSite = await call(agent, `${base}/api/v1/channels`, { method: 'POST', headers: { ...jar, origin: publicOrigin }, json: { name: 'web:1' } });
        assert.equal(sameSite.status, 201, sameSite.body);

        const logout = await call(agent, `${base}/api/v1/session`, { method: 'DELETE', headers: { ...jar, origin: publicOrigin } });
        assert.equal(logout.status, 204);
        const cleared = parseSetCookie(onlySetCookie(logout));
        assert.equal(cleared.name, 'mycel_session');
        assert.equal(cleared.value, '');
        assert.ok(Date.parse(cleared.attributes.get('expires')!) <= Date.now(), 'the clearing cookie is already expired');
        assert.equal(cleared.attributes.get('path'), '/');

        const afterLogout = await call(agent, `${base}/api/v1/session`, { headers: jar });
        assert.equal(afterLogout.status, 401);
      } finally {
        await h.close();
      }
    });

    test('with server.port 0 the public origin is the port the server got', async () => {
      const h = await startHarness(backend, { config: { server: { host: '127.0.0.1', port: 0 } } });
      try {
        const base = await listen(h);
        const login = await call(agent, `${base}/api/v1/session`, { method: 'POST', json: { password: OWNER_PASSWORD } });
        assert.equal(login.status, 201, login.body);
        const set = parseSetCookie(onlySetCookie(login));
        assert.ok(!set.attributes.has('secure'), 'not Secure on an http public URL');
        const jar = { cookie: `mycel_session=${set.value}` };
        const ok = await call(agent, `${base}/api/v1/channels`, { method: 'POST', headers: { ...jar, origin: base }, json: { name: 'port:0' } });
        assert.equal(ok.status, 201, ok.body);
        const portZero = await call(agent, `${base}/api/v1/channels`, { method: 'POST', headers: { ...jar, origin: 'http://127.0.0.1:0' }, json: { name: 'port:1' } });
        assert.equal(portZero.status, 403);
        const doc = JSON.parse((await call(agent, `${base}/api/v1/openapi.json`)).body) as { servers: Array<{ url: string }> };
        assert.deepEqual(doc.servers, [{ url: base }]);
      } finally {
        await h.close();
      }
    });

    test('a request that arrives while the server closes gets 503 SHUTTING_DOWN', async () => {
      const h = await startHarness(backend);
      let during: { api: Reply; readyz: Reply; healthz: Reply } | undefined;
      let base = '';
      let token = '';
      // preClose hooks run in order and before the server stops listening: the app's own one has
      // marked it closing by the time this one sends requests on a fresh connection.
      h.app.addHook('preClose', async () => {
        const fresh = new Agent({ connections: 1 });
        try {
          during = {
            api: await call(fresh, `${base}/api/v1/channels`, { headers: { authorization: `Bearer ${token}` } }),
            readyz: await call(fresh, `${base}/readyz`),
            healthz: await call(fresh, `${base}/healthz`),
          };
        } finally {
          await fresh.close();
        }
      });
      try {
        base = await listen(h);
        token = await h.login();
      } catch (err) {
        await h.close();
        throw err;
      }
      await h.close();
      assert.ok(during, 'the preClose hook ran');
      assert.equal(during.api.status, 503);
      assert.equal((JSON.parse(during.api.body) as { error: { code: string } }).error.code, 'SHUTTING_DOWN');
      assert.equal(during.api.headers.connection, 'close');
      assert.equal(during.readyz.status, 503);
      assert.equal((JSON.parse(during.readyz.body) as { error: { code: string } }).error.code, 'SHUTTING_DOWN');
      assert.equal(during.healthz.status, 200, 'liveness answers until the end');
    });
  });
}
