// /api/v1/nodes over HTTP on SQLite and PostgreSQL: the owner registers, lists, changes and
// removes client nodes; others are refused; a node logs in with its id and password in the
// body, uses its token on REST and as a realtime connect token, is refused alike for a wrong
// password and an unknown id, gets SESSION_EXPIRED after server.sessionMinutes, loses its
// session when removed or given a new password; node log-in is rate-limited per address.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NodeSessions } from '../../src/domain/node-sessions.js';
import { OwnerSessions } from '../../src/domain/owner-sessions.js';
import { newId } from '../../src/lib/ids.js';
import { ownerSessionCredentials } from '../../src/realtime/auth/domain-credentials.js';
import { storageBackends } from '../helpers/storage.js';
import { bearer, cookie, ORIGIN, OWNER_PASSWORD, runScenario, startHarness, type Harness, type Scenario } from './http-harness.js';

const NODE_PASSWORD = 'client-node-pw-1';

interface Ctx {
  owner: string;
  nodeId: string;
}

async function nodeLogin(h: Harness, nodeId: string, password = NODE_PASSWORD): Promise<string> {
  const res = await h.app.inject({ method: 'POST', url: '/api/v1/nodes/session', payload: { nodeId, password } });
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json() as { token: string; expiresAt: number };
  assert.equal(res.headers['set-cookie'], undefined, 'a node session sets no cookie');
  return body.token;
}

async function register(h: Harness, owner: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await h.app.inject({ method: 'POST', url: '/api/v1/nodes', headers: bearer(owner), payload: body });
  assert.equal(res.statusCode, 201, res.body);
  return res.json() as Record<string, unknown>;
}

for (const backend of storageBackends) {
  describe(`HTTP client nodes on ${backend.name}`, () => {
    let h: Harness;
    const ctx: Ctx = { owner: '', nodeId: newId() };
    before(async () => {
      h = await startHarness(backend, { config: { server: { loginAttemptsPerMinute: 1000 } } });
      ctx.owner = await h.login();
      await register(h, ctx.owner, { nodeId: ctx.nodeId, password: NODE_PASSWORD });
    });
    after(() => h.close());

    const owner = (c: Ctx) => bearer(c.owner);
    const rows: Scenario<Ctx>[] = [
      { name: 'list without credentials', url: '/api/v1/nodes', expectStatus: 401, expectCode: 'UNAUTHENTICATED' },
      { name: 'list as an app user', url: '/api/v1/nodes', headers: bearer('user.u1'), expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'register as an app user', method: 'POST', url: '/api/v1/nodes', headers: bearer('user.u1'), json: { nodeId: newId(), password: NODE_PASSWORD }, expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'remove as an app user', method: 'DELETE', url: (c) => `/api/v1/nodes/${c.nodeId}`, headers: bearer('user.u1'), expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'register the same id again', method: 'POST', url: '/api/v1/nodes', headers: owner, json: (c: Ctx) => ({ nodeId: c.nodeId, password: NODE_PASSWORD }), expectStatus: 409, expectCode: 'NODE_EXISTS' },
      { name: 'register an id that is no UUID', method: 'POST', url: '/api/v1/nodes', headers: owner, json: { nodeId: 'node-one', password: NODE_PASSWORD }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'register with a short password', method: 'POST', url: '/api/v1/nodes', headers: owner, json: { nodeId: newId(), password: 'short' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'register without a password', method: 'POST', url: '/api/v1/nodes', headers: owner, json: { nodeId: newId() }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'register with an unknown role', method: 'POST', url: '/api/v1/nodes', headers: owner, json: { nodeId: newId(), password: NODE_PASSWORD, role: 'sibling' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'register with a bad channel pattern', method: 'POST', url: '/api/v1/nodes', headers: owner, json: { nodeId: newId(), password: NODE_PASSWORD, channels: ['*'] }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'register with an unknown field', method: 'POST', url: '/api/v1/nodes', headers: owner, json: { nodeId: newId(), password: NODE_PASSWORD, passwordHash: 'x' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'get an unknown node', url: `/api/v1/nodes/${newId()}`, headers: owner, expectStatus: 404, expectCode: 'NODE_NOT_FOUND' },
      { name: 'get by a non-UUID', url: '/api/v1/nodes/not-a-uuid', headers: owner, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'change an unknown node', method: 'PATCH', url: `/api/v1/nodes/${newId()}`, headers: owner, json: { role: 'parent' }, expectStatus: 404, expectCode: 'NODE_NOT_FOUND' },
      { name: 'change with a bad access', method: 'PATCH', url: (c) => `/api/v1/nodes/${c.nodeId}`, headers: owner, json: { writeAccess: 'all' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'remove an unknown node', method: 'DELETE', url: `/api/v1/nodes/${newId()}`, headers: owner, expectStatus: 404, expectCode: 'NODE_NOT_FOUND' },
      { name: 'node log-in: wrong password', method: 'POST', url: '/api/v1/nodes/session', json: (c: Ctx) => ({ nodeId: c.nodeId, password: 'wrong-password' }), expectStatus: 401, expectCode: 'INVALID_CREDENTIALS' },
      { name: 'node log-in: unknown id', method: 'POST', url: '/api/v1/nodes/session', json: { nodeId: newId(), password: NODE_PASSWORD }, expectStatus: 401, expectCode: 'INVALID_CREDENTIALS' },
      { name: 'node log-in: id that is no UUID', method: 'POST', url: '/api/v1/nodes/session', json: { nodeId: 'nobody', password: NODE_PASSWORD }, expectStatus: 401, expectCode: 'INVALID_CREDENTIALS' },
      { name: 'node log-in: the owner password', method: 'POST', url: '/api/v1/nodes/session', json: (c: Ctx) => ({ nodeId: c.nodeId, password: OWNER_PASSWORD }), expectStatus: 401, expectCode: 'INVALID_CREDENTIALS' },
      { name: 'node log-in: no password', method: 'POST', url: '/api/v1/nodes/session', json: (c: Ctx) => ({ nodeId: c.nodeId }), expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'node log-in: credentials in the query string are not read', method: 'POST', url: (c) => `/api/v1/nodes/session?nodeId=${c.nodeId}&password=${NODE_PASSWORD}`, json: {}, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'node log-in from a foreign Origin', method: 'POST', url: '/api/v1/nodes/session', headers: { origin: 'https://evil.example' }, json: (c: Ctx) => ({ nodeId: c.nodeId, password: NODE_PASSWORD }), expectStatus: 403, expectCode: 'CSRF_REJECTED' },
    ];
    for (const row of rows) test(row.name, async () => void (await runScenario(h.app, row, ctx)));

    test('wrong password and unknown id answer with identical bodies', async () => {
      const wrong = await h.app.inject({ method: 'POST', url: '/api/v1/nodes/session', payload: { nodeId: ctx.nodeId, password: 'wrong-password' } });
      const unknown = await h.app.inject({ method: 'POST', url: '/api/v1/nodes/session', payload: { nodeId: newId(), password: NODE_PASSWORD } });
      assert.equal(wrong.body, unknown.body);
    });

    test('the owner registers, lists, reads, changes and removes a node; the hash is never shown', async () => {
      const id = newId();
      const made = await register(h, ctx.owner, { nodeId: id, password: NODE_PASSWORD, role: 'parent', asOwner: false, writeAccess: 'read-write', channels: ['lab:*', 'news'] });
      assert.deepEqual(Object.keys(made).sort(), ['asOwner', 'channels', 'createdAt', 'id', 'role', 'updatedAt', 'writeAccess']);
      assert.deepEqual([made.role, made.writeAccess, made.channels, made.asOwner], ['parent', 'read-write', ['lab:*', 'news'], false]);
      const list = await h.app.inject({ url: '/api/v1/nodes', headers: bearer(ctx.owner) });
      assert.equal(list.statusCode, 200);
      assert.doesNotMatch(list.body, /scrypt|passwordHash/);
      assert.deepEqual((list.json() as { items: unknown[] }).items.find((n) => (n as { id: string }).id === id), made);
      const got = await h.app.inject({ url: `/api/v1/nodes/${id}`, headers: bearer(ctx.owner) });
      assert.deepEqual(got.json(), made);
      const changed = await h.app.inject({ method: 'PATCH', url: `/api/v1/nodes/${id}`, headers: bearer(ctx.owner), payload: { role: 'both', channels: [] } });
      assert.equal(changed.statusCode, 200, changed.body);
      assert.deepEqual([changed.json().role, changed.json().channels], ['both', []]);
      // With the cookie, a state change needs our Origin like any other.
      const cookieDelete = await h.app.inject({ method: 'DELETE', url: `/api/v1/nodes/${id}`, headers: { ...cookie(ctx.owner), origin: ORIGIN } });
      assert.equal(cookieDelete.statusCode, 204);
      assert.equal((await h.app.inject({ url: `/api/v1/nodes/${id}`, headers: bearer(ctx.owner) })).statusCode, 404);
    });

    test('a node logs in and uses its token on REST and as a realtime connect token; logout ends it', async () => {
      const token = await nodeLogin(h, ctx.nodeId.toUpperCase());
      const who = await h.app.inject({ url: '/api/v1/session', headers: bearer(token) });
      assert.deepEqual(who.json(), { actor: { kind: 'node', nodeId: ctx.nodeId, asOwner: false }, source: 'bearer' });
      // Without owner rights a node may not manage nodes nor read the change log (yet).
      await runScenario(h.app, { name: 'node lists nodes', url: '/api/v1/nodes', headers: bearer(token), expectStatus: 403, expectCode: 'FORBIDDEN' }, null);
      assert.deepEqual(await ownerSessionCredentials(h.core.sessions)(token), { user: `mycel:node:${ctx.nodeId}`, owner: false });
      const out = await h.app.inject({ method: 'DELETE', url: '/api/v1/session', headers: bearer(token) });
      assert.equal(out.statusCode, 204);
      await runScenario(h.app, { name: 'token after logout', url: '/api/v1/session', headers: bearer(token), expectStatus: 401, expectCode: 'UNAUTHENTICATED' }, null);
    });

    test('a node registered with owner rights operates the node as its owner', async () => {
      const id = newId();
      await register(h, ctx.owner, { nodeId: id, password: NODE_PASSWORD, asOwner: true });
      const token = await nodeLogin(h, id);
      const list = await h.app.inject({ url: '/api/v1/nodes', headers: bearer(token) });
      assert.equal(list.statusCode, 200, list.body);
      assert.equal((await h.app.inject({ url: '/api/v1/changes', headers: bearer(token) })).statusCode, 200);
      // Its owner rights can be taken back; the same token then has none.
      const revoke = await h.app.inject({ method: 'PATCH', url: `/api/v1/nodes/${id}`, headers: bearer(ctx.owner), payload: { asOwner: false } });
      assert.equal(revoke.statusCode, 200);
      assert.equal((await h.app.inject({ url: '/api/v1/nodes', headers: bearer(token) })).statusCode, 403);
    });

    test('removing a node or changing its password ends its sessions', async () => {
      const id = newId();
      await register(h, ctx.owner, { nodeId: id, password: NODE_PASSWORD });
      const first = await nodeLogin(h, id);
      const changed = await h.app.inject({ method: 'PATCH', url: `/api/v1/nodes/${id}`, headers: bearer(ctx.owner), payload: { password: 'another-node-pw' } });
      assert.equal(changed.statusCode, 200);
      await runScenario(h.app, { name: 'old session', url: '/api/v1/session', headers: bearer(first), expectStatus: 401, expectCode: 'UNAUTHENTICATED' }, null);
      await runScenario(h.app, { name: 'old password', method: 'POST', url: '/api/v1/nodes/session', json: { nodeId: id, password: NODE_PASSWORD }, expectStatus: 401, expectCode: 'INVALID_CREDENTIALS' }, null);
      const second = await nodeLogin(h, id, 'another-node-pw');
      assert.equal((await h.app.inject({ method: 'DELETE', url: `/api/v1/nodes/${id}`, headers: bearer(ctx.owner) })).statusCode, 204);
      await runScenario(h.app, { name: 'session of a removed node', url: '/api/v1/session', headers: bearer(second), expectStatus: 401, expectCode: 'UNAUTHENTICATED' }, null);
      await runScenario(h.app, { name: 'log-in of a removed node', method: 'POST', url: '/api/v1/nodes/session', json: { nodeId: id, password: 'another-node-pw' }, expectStatus: 401, expectCode: 'INVALID_CREDENTIALS' }, null);
    });
  });

  describe(`HTTP node sessions on ${backend.name}: expiry and rate limit`, () => {
    test('a node session expires after server.sessionMinutes: 401 SESSION_EXPIRED, then a new log-in works (controlled clock)', async () => {
      let now = Date.now();
      const h = await startHarness(backend, {
        sessionMinutes: 1,
        patchCore: (core, storage) => ({ ...core, sessions: new OwnerSessions(storage, 1, () => now), nodeSessions: new NodeSessions(storage, 1, () => now) }),
      });
      try {
        const owner = await h.login();
        const id = newId();
        await register(h, owner, { nodeId: id, password: NODE_PASSWORD });
        const res = await h.app.inject({ method: 'POST', url: '/api/v1/nodes/session', payload: { nodeId: id, password: NODE_PASSWORD } });
        assert.equal((res.json() as { expiresAt: number }).expiresAt, now + 60_000);
        const token = (res.json() as { token: string }).token;
        now += 59_999;
        assert.equal((await h.app.inject({ url: '/api/v1/session', headers: bearer(token) })).statusCode, 200);
        now += 1;
        await runScenario(h.app, { name: 'expired node session', url: '/api/v1/session', headers: bearer(token), expectStatus: 401, expectCode: 'SESSION_EXPIRED' }, null);
        const again = await nodeLogin(h, id);
        assert.equal((await h.app.inject({ url: '/api/v1/session', headers: bearer(again) })).statusCode, 200);
      } finally {
        await h.close();
      }
    });

    test('node log-in is rate-limited per client address: 429 RATE_LIMITED after server.loginAttemptsPerMinute', async () => {
      const N = 3;
      const h = await startHarness(backend, { config: { server: { loginAttemptsPerMinute: N } } });
      try {
        const owner = await h.login();
        const id = newId();
        await register(h, owner, { nodeId: id, password: NODE_PASSWORD });
        for (let i = 0; i < N; i++) {
          await runScenario(h.app, { name: `attempt ${i + 1}`, method: 'POST', url: '/api/v1/nodes/session', json: { nodeId: id, password: 'guess-guess' }, expectStatus: 401, expectCode: 'INVALID_CREDENTIALS' }, null);
        }
        const limited = await runScenario(h.app, { name: 'attempt N+1', method: 'POST', url: '/api/v1/nodes/session', json: { nodeId: id, password: NODE_PASSWORD }, expectStatus: 429, expectCode: 'RATE_LIMITED' }, null);
        assert.ok(Number(limited.headers['retry-after']) > 0);
        const elsewhere = await h.app.inject({ method: 'POST', url: '/api/v1/nodes/session', payload: { nodeId: id, password: NODE_PASSWORD }, remoteAddress: '10.1.2.3' });
        assert.equal(elsewhere.statusCode, 201, 'another address has its own budget');
      } finally {
        await h.close();
      }
    });
  });
}
