/**
 * The Centrifugo-compatible server API (/api/<method>, /api/batch, legacy /api pipeline)
 * driven by the real `cent.js` client where it has a method (and raw fetch where it does not:
 * batch, error bodies), against a real fastify app with a RealtimeNode on memory back-ends and
 * real `centrifuge` clients observing the effects. Persisted publishing runs on real SQLite.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { CentClient, CentException } from 'cent.js';
import { Agent, fetch as undiciFetch } from 'undici';
import { configSchema } from '../../src/config/schema.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { registerRealtimeRoutes } from '../../src/http/routes/realtime.js';
import { RealtimeNode } from '../../src/realtime/realtime-node.js';
import { DISCONNECTS, ERRORS } from '../../src/realtime/protocol/codes.js';
import { silentLog } from '../helpers/core.js';
import { realtimeBackends, waitUntil, type RealtimeBackend } from '../helpers/realtime-backends.js';
import { storageBackends } from '../helpers/storage.js';
import { collect, sign, waitEvent, waitUntilEvent } from './realtime-harness.js';
import { startHarness, type Harness } from './http-harness.js';
import { API_KEY, startHttpRealtime, type HttpRealtimeServer } from './realtime-http-harness.js';
import { startPersisted, type PersistedRealtime } from './realtime-persisted.js';

const memory = realtimeBackends.find((f) => f.name === 'memory')!;
const sqlite = storageBackends.find((b) => b.name === 'sqlite')!;

interface Ctx {
  code: number;
  reason: string;
}
interface PubCtx {
  channel?: string;
  data: unknown;
  offset?: number;
}
type ApiBody = { result?: Record<string, unknown>; error?: { code: number; message: string } };

describe('realtime server API (cent.js)', () => {
  let backend: RealtimeBackend;
  let server: HttpRealtimeServer;
  let cent: CentClient;

  async function start(options: Omit<Parameters<typeof startHttpRealtime>[0], 'backend'> = {}): Promise<HttpRealtimeServer> {
    server = await startHttpRealtime({ backend, ...options });
    cent = new CentClient({ url: `${server.base}/api`, apiKey: API_KEY });
    return server;
  }

  /** A raw API call; returns the HTTP status and the parsed JSON body. */
  async function call(path: string, body: string | object, headers: Record<string, string> = { 'x-api-key': API_KEY }): Promise<{ status: number; body: ApiBody }> {
    const res = await fetch(`${server.base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as ApiBody };
  }

  async function connectedClient(user: string, channels: string[] = []): Promise<Centrifuge> {
    const c = server.wsClient({ token: await sign({ sub: user, info: { name: user } }) });
    const subs = channels.map((ch) => c.newSubscription(ch));
    const done = Promise.all(subs.map((s) => waitEvent(s, 'subscribed')));
    for (const s of subs) s.subscribe();
    c.connect();
    await waitEvent(c, 'connected');
    await done;
    return c;
  }

  beforeEach(async () => {
    backend = await memory.create();
  });
  afterEach(async () => {
    await server?.close();
    await backend.cleanup();
  });

  it('14. publish reaches subscribers; history (limit, reverse, since), history_remove', async () => {
    await start();
    const c = await connectedClient('sub1', ['chat:api']);
    const sub = c.getSubscription('chat:api')!;
    const pubs = collect<PubCtx>(sub, 'publication');

    const first = await cent.publish({ channel: 'chat:api', data: { n: 1 } });
    assert.equal(first.offset, 1);
    assert.equal(typeof first.epoch, 'string');
    await cent.publish({ channel: 'chat:api', data: { n: 2 }, tags: { kind: 'test' } });
    await cent.publish({ channel: 'chat:api', data: { n: 3 } });
    await waitUntilEvent(sub, 'publication', () => pubs.length === 3);
    assert.deepEqual(
      pubs.map((p) => p.data),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    );

    const all = await cent.getHistory({ channel: 'chat:api', limit: -1 });
    assert.equal(all.offset, 3);
    assert.equal(all.epoch, first.epoch);
    assert.deepEqual(
      all.publications.map((p) => p.data),
      [{ n: 1 }, { n: 2 }, { n: 3 }],
    );
    assert.deepEqual((all.publications[1] as { tags?: unknown }).tags, { kind: 'test' });
    const newest = await cent.getHistory({ channel: 'chat:api', limit: 1, reverse: true });
    assert.deepEqual(
      newest.publications.map((p) => p.offset),
      [3],
    );
    const since = await cent.getHistory({ channel: 'chat:api', limit: 10, since: { offset: 1, epoch: first.epoch! } });
    assert.deepEqual(
      since.publications.map((p) => p.offset),
      [2, 3],
    );
    const positionOnly = await cent.getHistory({ channel: 'chat:api' });
    assert.equal(positionOnly.publications?.length ?? 0, 0);
    assert.equal(positionOnly.offset, 3);
    // Another epoch: 112 (cent.js throws its exception; the wire has the code).
    await assert.rejects(cent.getHistory({ channel: 'chat:api', limit: 1, since: { offset: 1, epoch: 'other' } }), CentException);
    assert.equal((await call('/api/history', { channel: 'chat:api', limit: 1, since: { offset: 1, epoch: 'other' } })).body.error?.code, 112);

    await cent.removeHistory({ channel: 'chat:api' });
    const after = await cent.getHistory({ channel: 'chat:api', limit: -1 });
    assert.equal(after.publications?.length ?? 0, 0);
    assert.equal(after.offset, 3, 'the position stays');
    // No history in the namespace: 108.
    assert.equal((await call('/api/history', { channel: 'nohist:x', limit: 1 })).body.error?.code, ERRORS.notAvailable.code);
    // skip_history: delivered, not kept.
    await cent.publish({ channel: 'chat:api', data: { n: 4 }, skip_history: true });
    await waitUntilEvent(sub, 'publication', () => pubs.length === 4);
    assert.equal((await cent.getHistory({ channel: 'chat:api', limit: -1 })).publications?.length ?? 0, 0);
  });

  it('14. broadcast: one outcome per channel, errors in place', async () => {
    await start();
    const c = await connectedClient('sub2', ['chat:b1', 'chat:b2']);
    const pubs = collect<PubCtx>(c.getSubscription('chat:b2')!, 'publication');
    const result = (await cent.broadcast({ channels: ['chat:b1', 'chat:b2', 'nosuchns:x'], data: { all: true } })) as unknown as {
      responses: ApiBody[];
    };
    assert.equal(result.responses.length, 3);
    assert.equal(result.responses[0]!.result?.offset, 1);
    assert.equal(result.responses[1]!.result?.offset, 1);
    assert.equal(result.responses[2]!.error?.code, ERRORS.unknownChannel.code);
    await waitUntilEvent(c.getSubscription('chat:b2')!, 'publication', () => pubs.length === 1);
  });

  it('14. presence and presence_stats; presence off → 108', async () => {
    await start();
    await connectedClient('pia', ['chat:p']);
    await connectedClient('quinn', ['chat:p']);
    const presence = await cent.getPresence({ channel: 'chat:p' });
    const infos = Object.values(presence.presence);
    assert.deepEqual(infos.map((i) => i.user).sort(), ['pia', 'quinn']);
    assert.deepEqual(infos.find((i) => i.user === 'pia')?.conn_info, { name: 'pia' });
    for (const [client, info] of Object.entries(presence.presence)) assert.equal(info.client, client);
    assert.deepEqual(await cent.getPresenceStats({ channel: 'chat:p' }), { num_clients: 2, num_users: 2 });
    assert.equal((await call('/api/presence', { channel: 'nopresence:x' })).body.error?.code, ERRORS.notAvailable.code);
  });

  it('14. subscribe / unsubscribe a user server-side', async () => {
    await start();
    const c = await connectedClient('sam');
    const subscribed = waitEvent<{ channel: string }>(c, 'subscribed', (ctx) => ctx.channel === 'chat:srv');
    assert.deepEqual(await cent.subscribe({ user: 'sam', channel: 'chat:srv' }), {});
    await subscribed;
    const serverPubs = collect<PubCtx>(c, 'publication');
    await cent.publish({ channel: 'chat:srv', data: { text: 'server-side' } });
    await waitUntilEvent(c, 'publication', () => serverPubs.length === 1);
    assert.equal(serverPubs[0]!.channel, 'chat:srv');

    const unsubscribed = waitEvent<{ channel: string }>(c, 'unsubscribed', (ctx) => ctx.channel === 'chat:srv');
    assert.deepEqual(await cent.unsubscribe({ user: 'sam', channel: 'chat:srv' }), {});
    await unsubscribed;
    assert.equal((await call('/api/subscribe', { user: 'sam', channel: 'nosuchns:x' })).body.error?.code, ERRORS.unknownChannel.code);
  });

  it('14. disconnect (default terminal, custom code), refresh expired', async () => {
    await start();
    const c = await connectedClient('dora');

    // A custom reconnect code (cent.js types omit `disconnect`; the wire takes it).
    const reconnecting = waitEvent<Ctx>(c, 'connecting', (ctx) => ctx.code === 4001);
    const custom = await call('/api/disconnect', { user: 'dora', disconnect: { code: 4001, reason: 'app says reconnect' } });
    assert.deepEqual(custom, { status: 200, body: { result: {} } });
    assert.equal((await reconnecting).reason, 'app says reconnect');
    await waitEvent(c, 'connected');

    // Expired: 3005, the client reconnects.
    const expired = waitEvent<Ctx>(c, 'connecting', (ctx) => ctx.code === DISCONNECTS.expired.code);
    await cent.refresh({ user: 'dora', expired: true } as { user: string });
    await expired;
    await waitEvent(c, 'connected');

    const disconnected = waitEvent<Ctx>(c, 'disconnected');
    assert.deepEqual(await cent.disconnect({ user: 'dora' }), {});
    assert.equal((await disconnected).code, DISCONNECTS.forceDisconnect.code);
    await waitUntil(async () => server.node.userConnections('dora').length === 0, { what: 'dora gone' });
  });

  it('14. channels (with pattern) and info', async () => {
    await start();
    await connectedClient('cleo', ['chat:one', 'chat:two', 'public:x']);
    const all = await cent.getChannels();
    assert.deepEqual(all.channels, { 'chat:one': { num_clients: 1 }, 'chat:two': { num_clients: 1 }, 'public:x': { num_clients: 1 } });
    const some = await cent.getChannels({ pattern: 'chat:*' });
    assert.deepEqual(Object.keys(some.channels).sort(), ['chat:one', 'chat:two']);

    const info = await cent.getInfo();
    assert.equal(info.nodes.length, 1);
    const n = info.nodes[0]! as unknown as Record<string, unknown>;
    assert.equal(n.uid, server.node.instanceId);
    assert.equal(n.num_clients, 1);
    assert.equal(n.num_users, 1);
    assert.equal(n.num_channels, 3);
    assert.equal(n.num_subs, 3);
    for (const key of ['name', 'version', 'uptime']) assert.ok(key in n, `info has ${key}`);
  });

  it('14. pipeline (legacy /api) and /api/batch', async () => {
    await start();
    const results = await cent.pipeline([
      { method: 'publish' as never, params: { channel: 'chat:pipe', data: { a: 1 } } as never },
      { method: 'presence_stats' as never, params: { channel: 'chat:pipe' } as never },
    ]);
    assert.equal(results.length, 2);
    assert.equal((results[0] as unknown as { offset: number }).offset, 1);
    assert.deepEqual(results[1], { num_clients: 0, num_users: 0 });

    // The wire: one line per command, errors in place, no trailing newline.
    const res = await fetch(`${server.base}/api`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY },
      body: ['{"method":"info","params":{}}', '{"method":"nope","params":{}}', 'not json', '{"method":"publish","params":{"channel":5}}'].join('\n'),
    });
    assert.equal(res.status, 200);
    const lines = (await res.text()).split('\n').map((l) => JSON.parse(l) as ApiBody);
    assert.equal(lines.length, 4);
    assert.ok(lines[0]!.result?.nodes);
    assert.equal(lines[1]!.error?.code, ERRORS.methodNotFound.code);
    assert.equal(lines[2]!.error?.code, ERRORS.badRequest.code);
    assert.equal(lines[3]!.error?.code, ERRORS.badRequest.code);

    for (const parallel of [false, true]) {
      const batch = await call('/api/batch', {
        parallel,
        commands: [
          { publish: { channel: 'chat:batch', data: { p: parallel } } },
          { method: 'history', params: { channel: 'chat:batch', limit: -1 } },
          { nope: {} },
          { publish: { channel: 'chat:batch' } },
        ],
      });
      assert.equal(batch.status, 200);
      const replies = batch.body.result?.replies as Array<Record<string, { offset?: number } | undefined> & ApiBody>;
      assert.equal(replies.length, 4);
      assert.equal(typeof replies[0]!.publish?.offset, 'number');
      assert.ok(replies[1]!.history);
      assert.equal(replies[2]!.error?.code, ERRORS.methodNotFound.code);
      assert.equal(replies[3]!.error?.code, ERRORS.badRequest.code);
    }
    assert.equal((await call('/api/batch', { commands: 'no' })).body.error?.code, ERRORS.badRequest.code);
  });

  it('14. a bad or missing key is 401 with a JSON body; a key in the URL is refused; Authorization: apikey works', async () => {
    await start();
    const wrong = new CentClient({ url: `${server.base}/api`, apiKey: 'wrong-key' });
    await assert.rejects(wrong.getInfo(), CentException);
    const bad = await call('/api/info', {}, { 'x-api-key': 'wrong-key' });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error?.code, ERRORS.unauthorized.code);
    assert.match(bad.body.error?.message ?? '', /invalid API key/);

    const missing = await call('/api/info', {}, {});
    assert.equal(missing.status, 401);
    assert.match(missing.body.error?.message ?? '', /X-API-Key/);

    // Even the right key is refused in the URL, with a message that says where it belongs.
    const inUrl = await call(`/api/info?api_key=${API_KEY}`, {}, { 'x-api-key': API_KEY });
    assert.equal(inUrl.status, 401);
    assert.match(inUrl.body.error?.message ?? '', /must not be sent in the URL.*header/);
    assert.equal((await call(`/api/info?api_key=${API_KEY}`, {}, {})).status, 401);

    const scheme = await call('/api/info', {}, { authorization: `apikey ${API_KEY}` });
    assert.equal(scheme.status, 200);
    assert.ok(scheme.body.result?.nodes);
    assert.equal((await call('/api/info', {}, { authorization: `Bearer ${API_KEY}` })).status, 401);
    // The pipeline and batch forms are guarded too.
    assert.equal((await call('/api', '{"method":"info"}', {})).status, 401);
    assert.equal((await call('/api/batch', { commands: [] }, {})).status, 401);
  });

  it('bad input: malformed JSON 400, unknown method 404/104, wrong types 107, huge body 413; the server stays up', async () => {
    await start({ bodyLimit: 64 * 1024 });
    const malformed = await call('/api/publish', '{"channel": ');
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error?.code, ERRORS.badRequest.code);

    const unknown = await call('/api/nosuchmethod', {});
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body.error, { code: ERRORS.methodNotFound.code, message: ERRORS.methodNotFound.message });

    const cases: Array<[string, object, RegExp]> = [
      ['publish', { channel: 5, data: {} }, /channel must be a string/],
      ['publish', { channel: 'chat:x' }, /data is required/],
      ['publish', { channel: 'chat:x', b64data: '!!!' }, /b64data must be base64/],
      ['publish', { channel: 'chat:x', data: 1, tags: { a: 1 } }, /tags must be an object of strings/],
      ['publish', { channel: 'chat:x', data: 1, skip_history: 'yes' }, /skip_history must be a boolean/],
      ['broadcast', { channels: 'chat:x', data: 1 }, /channels must be an array of strings/],
      ['broadcast', { channels: [], data: 1 }, /channels is required/],
      ['history', { channel: 'chat:x', limit: '10' }, /limit must be an integer/],
      ['history', { channel: 'chat:x', since: { offset: -1 } }, /since.offset/],
      ['subscribe', { channel: 'chat:x' }, /user is required/],
      ['disconnect', { user: 'u', disconnect: { code: 1000, reason: 'x' } }, /disconnect.code must be an integer in 3000-4999/],
      ['refresh', { user: 'u', expire_at: 'soon' }, /expire_at must be an integer/],
      ['channels', { pattern: 3 }, /pattern must be a string/],
      ['presence', { channel: '' }, /channel is required/],
    ];
    for (const [method, params, message] of cases) {
      const r = await call(`/api/${method}`, params);
      assert.equal(r.status, 200, `${method} ${JSON.stringify(params)}`);
      assert.equal(r.body.error?.code, ERRORS.badRequest.code, `${method} ${JSON.stringify(params)}`);
      assert.match(r.body.error?.message ?? '', message);
    }
    assert.equal((await call('/api/publish', '[1,2]')).body.error?.code, ERRORS.badRequest.code);
    assert.equal((await call('/api/publish', { channel: 'bad name:with:colons', data: 1 })).body.error?.code, ERRORS.unknownChannel.code);

    // b64data holding JSON is accepted.
    const b64 = await call('/api/publish', { channel: 'chat:x', b64data: Buffer.from('{"from":"b64"}').toString('base64') });
    assert.equal(b64.body.result?.offset, 1);

    const huge = await call('/api/publish', { channel: 'chat:x', data: 'x'.repeat(100 * 1024) });
    assert.equal(huge.status, 413);
    assert.equal(huge.body.error?.code, ERRORS.badRequest.code);
    assert.match(huge.body.error?.message ?? '', /larger than 65536 bytes/);

    assert.ok(((await cent.getInfo()).nodes.length ?? 0) === 1, 'still serving');
  });

  it('idempotency_key: a retried publish is applied once and answered with the first result', async () => {
    await start();
    const a = await call('/api/publish', { channel: 'chat:idem', data: 1, idempotency_key: 'k1' });
    const b = await call('/api/publish', { channel: 'chat:idem', data: 1, idempotency_key: 'k1' });
    assert.deepEqual(b.body, a.body);
    const c = await call('/api/publish', { channel: 'chat:idem', data: 1, idempotency_key: 'k2' });
    assert.equal(c.body.result?.offset, 2);
    assert.equal((await cent.getHistory({ channel: 'chat:idem', limit: -1 })).publications.length, 2);
  });
});

describe('realtime server API into a persisted namespace (sqlite)', () => {
  const REALTIME = { namespaces: { posts: { persist: true, historySize: 100 }, chat: {} } };
  let persisted: PersistedRealtime<HttpRealtimeServer>;
  let core: NodeCore;
  let server: HttpRealtimeServer;

  beforeEach(async () => {
    persisted = await startPersisted(sqlite, REALTIME, (backend, persist) => startHttpRealtime({ backend, realtime: REALTIME, persist }));
    ({ core, server } = persisted);
  });
  afterEach(() => persisted.close());

  it('publish through the API is a post, committed before the reply, delivered from the commit', async () => {
    const cent = new CentClient({ url: `${server.base}/api`, apiKey: API_KEY });
    const c = server.wsClient({ token: await sign({ sub: 'reader' }) });
    const s = c.newSubscription('posts:news');
    const pubs = collect<PubCtx>(s, 'publication');
    s.subscribe();
    c.connect();
    await waitEvent(s, 'subscribed');

    const result = await cent.publish({ channel: 'posts:news', data: { body: 'from the API' } });
    // Acknowledged means committed: the post is in storage when the reply arrives.
    const channel = await core.storage.getChannelByName('posts:news');
    assert.ok(channel);
    const stored = await core.storage.listPosts(channel.id, { limit: 10 });
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.body, 'from the API');
    assert.deepEqual(result, { offset: stored[0]!.seq, epoch: channel.id });
    await waitUntilEvent(s, 'publication', () => pubs.length === 1);
    assert.equal((pubs[0]!.data as { id: string }).id, stored[0]!.id);

    // Data that is no post: 107, nothing stored.
    const res = await fetch(`${server.base}/api/publish`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY },
      body: JSON.stringify({ channel: 'posts:news', data: 42 }),
    });
    assert.equal(((await res.json()) as ApiBody).error?.code, ERRORS.badRequest.code);
    assert.equal((await core.storage.listPosts(channel.id, { limit: 10 })).length, 1);
    // History of a persisted channel comes from the database; removing it is not available.
    assert.equal((await cent.getHistory({ channel: 'posts:news', limit: 10 })).publications.length, 1);
    await assert.rejects(cent.removeHistory({ channel: 'posts:news' }), CentException);
  });
});

describe('realtime routes mounted in the node HTTP app (buildHttpApp)', () => {
  let harness: Harness;
  let backend: RealtimeBackend;
  let node: RealtimeNode;
  let base: string;
  // Its own connection pool, closed before the app: the app's close waits for idle client sockets.
  let agent: Agent;
  const fetch = (url: string, init: Parameters<typeof undiciFetch>[1] = {}) => undiciFetch(url, { ...init, dispatcher: agent });

  beforeEach(async () => {
    harness = await startHarness(sqlite);
    backend = await memory.create();
    const config = configSchema.parse({ realtime: { apiKey: API_KEY, namespaces: { chat: {} } } });
    node = new RealtimeNode({ config: config.realtime, bus: backend.bus, history: backend.history, presence: backend.presence, log: silentLog });
    await registerRealtimeRoutes(harness.app, { realtime: node, config });
    agent = new Agent();
    await harness.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(harness.app.server.address() as { port: number }).port}`;
  });
  afterEach(async () => {
    await node.shutdown(1000);
    await agent.close();
    await harness.close();
    await backend.cleanup();
  });

  it("the app's bearer auth, CSRF and error mapping leave the realtime routes alone; tokens in SSE URLs stay out of the logs", async () => {
    // `Authorization: apikey …` is not a bearer token, and the app must not refuse it.
    const info = await fetch(`${base}/api/info`, { method: 'POST', headers: { authorization: `apikey ${API_KEY}` }, body: '{}' });
    assert.equal(info.status, 200);
    assert.equal(((await info.json()) as ApiBody).result?.nodes !== undefined, true);
    const pipeline = await fetch(`${base}/api`, { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: '{"method":"info","params":{}}' });
    assert.equal(pipeline.status, 200);
    // The node's own REST API is untouched.
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const wrongMethod = await fetch(`${base}/api/publish`);
    assert.equal(wrongMethod.status, 405);

    const token = await sign({ sub: 'mona', channels: ['chat:mounted'] });
    const url = `${base}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token }))}`;
    const controller = new AbortController();
    const res = await fetch(url, { signal: controller.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let text = '';
    const deadline = Date.now() + 5000;
    while (!text.includes('"connect"') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.match(text, /data: \{"connect":/);
    controller.abort();
    const emulation = await fetch(`${base}/emulation`, { method: 'POST', body: JSON.stringify({ session: 'x', node: node.instanceId, data: '' }) });
    assert.equal(emulation.status, 404);
    assert.ok(!harness.logs.some((l) => l.includes(token)), 'the connect token of the SSE URL is not logged');
    // A key wrongly sent in the URL is refused, and the request log shows the URL without it.
    const keyInUrl = await fetch(`${base}/api/info?api_key=${API_KEY}&x=1`, { method: 'POST', body: '{}' });
    assert.equal(keyInUrl.status, 401);
    assert.ok(harness.logs.some((l) => l.includes('/api/info?api_key=[redacted]&x=1')), 'the request was logged, redacted');
    assert.ok(!harness.logs.some((l) => l.includes(API_KEY)), 'the API key is not logged');
  });
});
