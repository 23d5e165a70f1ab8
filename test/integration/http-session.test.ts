// Owner login, who-am-I, logout, rate limiting, login CSRF and session expiry over HTTP, on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OwnerSessions } from '../../src/domain/owner-sessions.js';
import { sha256Hex } from '../../src/lib/hash.js';
import { randomToken } from '../../src/lib/ids.js';
import { jwtActorResolver } from '../../src/realtime/auth/domain-credentials.js';
import { TokenVerifier } from '../../src/realtime/auth/tokens.js';
import { storageBackends } from '../helpers/storage.js';
import { bearer, cookie, ORIGIN, OWNER_PASSWORD, runScenario, startHarness, type Harness, type Scenario } from './http-harness.js';
import { API_KEY, sign } from './realtime-harness.js';

for (const backend of storageBackends) {
  describe(`HTTP session on ${backend.name}`, () => {
    describe('login', () => {
      let h: Harness;
      // Enough attempts for the table; the rate-limit test has its own app.
      before(async () => {
        h = await startHarness(backend, { config: { server: { loginAttemptsPerMinute: 100 } } });
      });
      after(() => h.close());

      const rows: Scenario<null>[] = [
        {
          name: 'right password',
          method: 'POST',
          url: '/api/v1/session',
          json: { password: OWNER_PASSWORD },
          expectStatus: 201,
          check: (res) => {
            const body = res.json() as { token: string; expiresAt: number };
            assert.match(body.token, /^[A-Za-z0-9_-]{43}$/);
            assert.ok(body.expiresAt > Date.now() + 59 * 60_000 && body.expiresAt <= Date.now() + 60 * 60_000, 'expires after sessionMinutes');
            const setCookie = String(res.headers['set-cookie']);
            assert.match(setCookie, new RegExp(`^mycel_session=${body.token};`));
            assert.match(setCookie, /; HttpOnly/);
            assert.match(setCookie, /; SameSite=Strict/);
            assert.match(setCookie, /; Path=\//);
            assert.doesNotMatch(setCookie, /; Secure/, 'not Secure on an http public URL');
          },
        },
        { name: 'wrong password', method: 'POST', url: '/api/v1/session', json: { password: 'nope' }, expectStatus: 401, expectCode: 'INVALID_CREDENTIALS' },
        { name: 'empty password', method: 'POST', url: '/api/v1/session', json: { password: '' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
        { name: 'password of wrong type', method: 'POST', url: '/api/v1/session', json: { password: 12345 }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
        { name: 'no password field', method: 'POST', url: '/api/v1/session', json: {}, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
        { name: 'login from a foreign Origin', method: 'POST', url: '/api/v1/session', headers: { origin: 'https://evil.example' }, json: { password: OWNER_PASSWORD }, expectStatus: 403, expectCode: 'CSRF_REJECTED' },
        { name: 'login with Origin null', method: 'POST', url: '/api/v1/session', headers: { origin: 'null' }, json: { password: OWNER_PASSWORD }, expectStatus: 403, expectCode: 'CSRF_REJECTED' },
        { name: 'login from our own Origin', method: 'POST', url: '/api/v1/session', headers: { origin: ORIGIN }, json: { password: OWNER_PASSWORD }, expectStatus: 201 },
        { name: 'who am I without credentials', url: '/api/v1/session', expectStatus: 401, expectCode: 'UNAUTHENTICATED' },
        { name: 'logout without credentials', method: 'DELETE', url: '/api/v1/session', expectStatus: 401, expectCode: 'UNAUTHENTICATED' },
      ];
      for (const row of rows) test(row.name, async () => void (await runScenario(h.app, row, null)));

      test('who am I, by bearer and by cookie; logout ends the session', async () => {
        const token = await h.login();
        const viaBearer = await h.app.inject({ url: '/api/v1/session', headers: bearer(token) });
        assert.deepEqual(viaBearer.json(), { actor: { kind: 'owner' }, source: 'bearer' });
        const viaCookie = await h.app.inject({ url: '/api/v1/session', headers: cookie(token) });
        assert.deepEqual(viaCookie.json(), { actor: { kind: 'owner' }, source: 'cookie' });

        // Logging out with the cookie is a state change: it needs our Origin like any other.
        await runScenario(h.app, { name: 'cookie logout without Origin', method: 'DELETE', url: '/api/v1/session', headers: cookie(token), expectStatus: 403, expectCode: 'CSRF_REJECTED' }, null);
        const out = await h.app.inject({ method: 'DELETE', url: '/api/v1/session', headers: { ...cookie(token), origin: ORIGIN } });
        assert.equal(out.statusCode, 204);
        assert.match(String(out.headers['set-cookie']), /^mycel_session=;.*Expires=Thu, 01 Jan 1970/);
        await runScenario(h.app, { name: 'token after logout', url: '/api/v1/session', headers: bearer(token), expectStatus: 401, expectCode: 'UNAUTHENTICATED' }, null);
        await runScenario(h.app, { name: 'cookie after logout', url: '/api/v1/channels', headers: cookie(token), expectStatus: 401, expectCode: 'UNAUTHENTICATED' }, null);

        const other = await h.login();
        const bearerOut = await h.app.inject({ method: 'DELETE', url: '/api/v1/session', headers: bearer(other) });
        assert.equal(bearerOut.statusCode, 204, 'bearer logout needs no Origin');
        assert.equal((await h.app.inject({ url: '/api/v1/session', headers: bearer(other) })).statusCode, 401);
      });

      test('an expired session stored in the database is SESSION_EXPIRED, by bearer and by cookie', async () => {
        const token = randomToken(32);
        const now = Date.now();
        await h.handle.storage.transaction((tx) =>
          tx.insertSession({ tokenHash: sha256Hex(token), subjectKind: 'owner', subjectId: h.core.node.id, createdAt: now - 120_000, expiresAt: now - 60_000 }),
        );
        await runScenario(h.app, { name: 'expired bearer', url: '/api/v1/channels', headers: bearer(token), expectStatus: 401, expectCode: 'SESSION_EXPIRED' }, null);
        await runScenario(h.app, { name: 'expired cookie', url: '/api/v1/session', headers: cookie(token), expectStatus: 401, expectCode: 'SESSION_EXPIRED' }, null);
      });
    });

    test('an application JWT works as a bearer token, never as the session cookie', async () => {
      const h = await startHarness(backend, { actorResolvers: [jwtActorResolver(new TokenVerifier(API_KEY))] });
      try {
        const jwt = await sign({ sub: 'alice' });
        const viaBearer = await runScenario(h.app, { name: 'JWT as bearer', url: '/api/v1/session', headers: bearer(jwt), expectStatus: 200 }, null);
        assert.deepEqual(viaBearer.json(), { actor: { kind: 'user', userId: 'alice' }, source: 'bearer' });
        await runScenario(h.app, { name: 'JWT as cookie', url: '/api/v1/session', headers: cookie(jwt), expectStatus: 401, expectCode: 'UNAUTHENTICATED' }, null);
        await runScenario(h.app, { name: 'JWT as cookie, a write with our Origin', method: 'POST', url: '/api/v1/channels', headers: { ...cookie(jwt), origin: ORIGIN }, json: { name: 'x:y' }, expectStatus: 401, expectCode: 'UNAUTHENTICATED' }, null);
        const ownerCookie = await runScenario(h.app, { name: 'owner session as cookie', url: '/api/v1/session', headers: cookie(await h.login()), expectStatus: 200 }, null);
        assert.deepEqual(ownerCookie.json(), { actor: { kind: 'owner' }, source: 'cookie' });
      } finally {
        await h.close();
      }
    });

    test('sessions expire after server.sessionMinutes (controlled clock)', async () => {
      let now = Date.now();
      const h = await startHarness(backend, {
        sessionMinutes: 1,
        patchCore: (core, storage) => ({ ...core, sessions: new OwnerSessions(storage, 1, () => now) }),
      });
      try {
        const token = await h.login();
        assert.equal((await h.app.inject({ url: '/api/v1/channels', headers: bearer(token) })).statusCode, 200);
        now += 59_000;
        assert.equal((await h.app.inject({ url: '/api/v1/channels', headers: bearer(token) })).statusCode, 200, 'still valid before a minute');
        now += 1_000;
        await runScenario(h.app, { name: 'after a minute', url: '/api/v1/channels', headers: bearer(token), expectStatus: 401, expectCode: 'SESSION_EXPIRED' }, null);
      } finally {
        await h.close();
      }
    });

    test('login attempts are rate-limited per client address: 429 RATE_LIMITED after N', async () => {
      const N = 3;
      const h = await startHarness(backend, { config: { server: { loginAttemptsPerMinute: N } } });
      try {
        for (let i = 0; i < N; i++) {
          await runScenario(h.app, { name: `attempt ${i + 1}`, method: 'POST', url: '/api/v1/session', json: { password: 'guess' }, expectStatus: 401, expectCode: 'INVALID_CREDENTIALS' }, null);
        }
        const limited = await runScenario(
          h.app,
          { name: 'attempt N+1', method: 'POST', url: '/api/v1/session', json: { password: OWNER_PASSWORD }, expectStatus: 429, expectCode: 'RATE_LIMITED' },
          null,
        );
        assert.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After is set');
        assert.ok(((limited.json() as { error: { details: { retryAfterSeconds: number } } }).error.details.retryAfterSeconds) > 0);
        // Only login is limited: other routes still answer.
        assert.equal((await h.app.inject({ url: '/healthz' })).statusCode, 200);
        // Another client address has its own budget.
        const elsewhere = await h.app.inject({ method: 'POST', url: '/api/v1/session', payload: { password: OWNER_PASSWORD }, remoteAddress: '10.1.2.3' });
        assert.equal(elsewhere.statusCode, 201);
      } finally {
        await h.close();
      }
    });

    test('a node with no owner password refuses every login with INVALID_CREDENTIALS', async () => {
      const h = await startHarness(backend, { identity: { name: 'no-password' } });
      try {
        for (const password of ['', 'anything', OWNER_PASSWORD]) {
          const expect = password === '' ? { expectStatus: 400, expectCode: 'VALIDATION_FAILED' as const } : { expectStatus: 401, expectCode: 'INVALID_CREDENTIALS' as const };
          await runScenario(h.app, { name: `login with ${JSON.stringify(password)}`, method: 'POST', url: '/api/v1/session', json: { password }, ...expect }, null);
        }
      } finally {
        await h.close();
      }
    });

    test('the Secure cookie flag follows an https public URL', async () => {
      const h = await startHarness(backend, { config: { server: { publicUrl: { scheme: 'https', host: 'mycel.example', port: 443 } } } });
      try {
        const res = await h.app.inject({ method: 'POST', url: '/api/v1/session', headers: { origin: 'https://mycel.example' }, payload: { password: OWNER_PASSWORD } });
        assert.equal(res.statusCode, 201, res.body);
        assert.match(String(res.headers['set-cookie']), /; Secure/);
        const token = (res.json() as { token: string }).token;
        // The default port is not part of the origin a browser sends.
        const write = await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers: { ...cookie(token), origin: 'https://mycel.example' }, payload: { name: 'secure:ok' } });
        assert.equal(write.statusCode, 201, write.body);
        await runScenario(h.app, { name: 'http origin on an https node', method: 'POST', url: '/api/v1/channels', headers: { ...cookie(token), origin: 'http://mycel.example' }, json: { name: 'x' }, expectStatus: 403, expectCode: 'CSRF_REJECTED' }, null);
      } finally {
        await h.close();
      }
    });
  });
}
