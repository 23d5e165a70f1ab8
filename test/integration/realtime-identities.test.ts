/**
 * Application users and the node's own principals do not share a name space: the owner's
 * realtime user id is `mycel:owner` (src/realtime/auth/principals.ts), and no application JWT
 * may name a `mycel:` user. Real clients against the realtime routes with the owner-session
 * credentials hook of the node, on a real SQLite node core.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import type { NodeCore } from '../../src/domain/node-core.js';
import { jwtActorResolver, ownerSessionCredentials } from '../../src/realtime/auth/domain-credentials.js';
import { OWNER_USER_ID } from '../../src/realtime/auth/principals.js';
import { TokenVerifier } from '../../src/realtime/auth/tokens.js';
import { DISCONNECTS } from '../../src/realtime/protocol/codes.js';
import { openTestCore } from '../helpers/core.js';
import { realtimeBackends, type RealtimeBackendInstance } from '../helpers/realtime-backends.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';
import { bearer, runScenario, startHarness, type Harness } from './http-harness.js';
import { sign, waitEvent } from './realtime-harness.js';
import { API_KEY, startHttpRealtime, type HttpRealtimeServer } from './realtime-http-harness.js';

const memory = realtimeBackends.find((f) => f.name === 'memory')!;
const sqlite = storageBackends.find((b) => b.name === 'sqlite')!;
const CHANNEL = 'chat:identities';

type ApiBody = { result?: Record<string, unknown>; error?: { code: number; message: string } };

describe('realtime identities: app users cannot pose as the node’s principals', () => {
  let handle: StorageHandle;
  let core: NodeCore;
  let backend: RealtimeBackendInstance;
  let server: HttpRealtimeServer;

  before(async () => {
    handle = await sqlite.create();
    core = await openTestCore(handle.storage);
    backend = await memory.create();
    server = await startHttpRealtime({ backend, credentials: ownerSessionCredentials(core.sessions) });
  });
  after(async () => {
    await server?.close();
    await backend?.cleanup();
    await core?.close();
    await handle?.cleanup();
  });

  async function api(method: string, params: object): Promise<ApiBody> {
    const res = await fetch(`${server.base}/api/${method}`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body: JSON.stringify(params) });
    assert.equal(res.status, 200);
    return (await res.json()) as ApiBody;
  }

  async function subscribed(token: string): Promise<Centrifuge> {
    const c = server.wsClient({ token });
    const sub = c.newSubscription(CHANNEL);
    const joined = waitEvent(sub, 'subscribed');
    sub.subscribe();
    c.connect();
    await waitEvent(c, 'connected');
    await joined;
    return c;
  }

  it('a JWT with sub "mycel:owner" (or any mycel: id) is refused with 3500', async () => {
    for (const sub of [OWNER_USER_ID, 'mycel:node:0190a1b2-0000-7000-8000-000000000000', 'mycel:']) {
      const c = server.wsClient({ token: await sign({ sub }) });
      const disconnected = waitEvent<{ code: number }>(c, 'disconnected');
      c.connect();
      assert.equal((await disconnected).code, DISCONNECTS.invalidToken.code, sub);
    }
  });

  it('an app user named "owner" shows in presence apart from the owner, and disconnecting it leaves the owner connected', async () => {
    const session = await core.sessions.login('owner-secret');
    const owner = await subscribed(session.token);
    const impostor = await subscribed(await sign({ sub: 'owner' }));

    const presence = (await api('presence', { channel: CHANNEL })).result?.presence as Record<string, { user: string }>;
    assert.deepEqual(Object.values(presence).map((p) => p.user).sort(), ['mycel:owner', 'owner']);

    const ownerGone = collectDisconnects(owner);
    const impostorGone = waitEvent<{ code: number }>(impostor, 'disconnected');
    assert.deepEqual(await api('disconnect', { user: 'owner' }), { result: {} });
    assert.equal((await impostorGone).code, DISCONNECTS.forceDisconnect.code);
    // The owner's connection still answers: a round trip after the disconnect went out.
    const after = (await owner.presence(CHANNEL)).clients;
    assert.deepEqual(Object.values(after).map((p) => p.user), ['mycel:owner']);
    assert.deepEqual(ownerGone, []);
    assert.equal(owner.state, 'connected');
  });
});

function collectDisconnects(c: Centrifuge): unknown[] {
  const seen: unknown[] = [];
  c.on('disconnected', (ctx) => seen.push(ctx));
  return seen;
}

describe('REST: a JWT naming a reserved user id is not accepted', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(sqlite, { actorResolvers: [jwtActorResolver(new TokenVerifier(API_KEY))] });
  });
  after(async () => h?.close());

  it('sub "mycel:owner" is 401; sub "owner" is an app user, not the owner', async () => {
    await runScenario(h.app, { name: 'reserved sub', url: '/api/v1/session', headers: bearer(await sign({ sub: OWNER_USER_ID })), expectStatus: 401, expectCode: 'UNAUTHENTICATED' }, null);
    const res = await runScenario(h.app, { name: 'sub owner', url: '/api/v1/session', headers: bearer(await sign({ sub: 'owner' })), expectStatus: 200 }, null);
    assert.deepEqual(res.json(), { actor: { kind: 'user', userId: 'owner' }, source: 'bearer' });
    await runScenario(h.app, { name: 'sub owner may not manage channels', method: 'POST', url: '/api/v1/channels', headers: bearer(await sign({ sub: 'owner' })), json: { name: 'x:y' }, expectStatus: 403, expectCode: 'FORBIDDEN' }, null);
  });
});
