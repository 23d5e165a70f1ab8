/**
 * Bidirectional emulation (HTTP-streaming and SSE, with POST /emulation) driven by the real
 * `centrifuge` client's `http_stream` and `sse` transports, on a real fastify app with the
 * realtime routes (memory back-ends): connect, subscribe, publish round trip, rpc, ping/pong,
 * disconnect pushes (reconnect vs terminal), recovery after a dropped stream, routing of
 * emulation requests that reach another instance over the Bus, bad input, and shutdown.
 */
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Centrifuge, Subscription as ClientSubscription } from 'centrifuge';
import { DISCONNECTS } from '../../src/realtime/protocol/codes.js';
import type { ResponseStreamTransport } from '../../src/realtime/transports/response-stream.js';
import { realtimeBackends, waitUntil, type RealtimeBackend } from '../helpers/realtime-backends.js';
import { collect, sign, waitEvent, waitUntilEvent } from './realtime-harness.js';
import { startHttpRealtime, StreamReader, type EmulationTransport, type HttpRealtimeServer } from './realtime-http-harness.js';

const memory = realtimeBackends.find((f) => f.name === 'memory')!;

interface Ctx {
  code: number;
  reason: string;
}
interface PubCtx {
  data: unknown;
  offset?: number;
  info?: { user: string; client: string };
}
interface SubscribedCtx {
  recovered: boolean;
  wasRecovering: boolean;
  streamPosition?: { offset: number; epoch: string };
}

function connected(c: Centrifuge, timeoutMs = 5000): Promise<{ client: string; transport: string }> {
  return waitEvent(c, 'connected', () => true, timeoutMs);
}

function subscribed(s: ClientSubscription, timeoutMs = 5000): Promise<SubscribedCtx> {
  return waitEvent(s, 'subscribed', () => true, timeoutMs);
}

const TRANSPORTS: EmulationTransport[] = ['http_stream', 'sse'];

for (const transport of TRANSPORTS) {
  describe(`realtime emulation over ${transport} (real centrifuge client)`, () => {
    let backend: RealtimeBackend;
    let server: HttpRealtimeServer;
    const extra: Array<{ close(): Promise<void> }> = [];

    async function start(options: Omit<Parameters<typeof startHttpRealtime>[0], 'backend'> = {}): Promise<HttpRealtimeServer> {
      server = await startHttpRealtime({ backend, ...options });
      return server;
    }

    beforeEach(async () => {
      backend = await memory.create();
    });
    afterEach(async () => {
      for (const e of extra.splice(0)) await e.close();
      await server?.close();
      await backend.cleanup();
    });

    it('12. connects, subscribes and gets its own publication back; the connect result carries session and node', async () => {
      await start();
      const c = server.client(transport, { token: await sign({ sub: 'alice', info: { name: 'Alice' } }) });
      const s = c.newSubscription('chat:room');
      const pubs = collect<PubCtx>(s, 'publication');
      s.subscribe();
      const ctxP = connected(c);
      c.connect();
      const ctx = await ctxP;
      assert.equal(ctx.transport, transport);
      const first = await subscribed(s);
      assert.equal(first.streamPosition?.offset, 0);

      const [session] = server.node.userConnections('alice');
      assert.ok(session);
      assert.equal(session.transport.name, transport);
      assert.equal(session.transport.emulation, true);
      assert.ok(session.sessionKey.length >= 16, 'an unguessable session key routes emulation requests');
      assert.equal(server.node.connectionByKey(session.sessionKey), session);

      await s.publish({ text: 'hello' });
      await waitUntilEvent(s, 'publication', () => pubs.length === 1);
      assert.deepEqual(pubs[0]!.data, { text: 'hello' });
      assert.equal(pubs[0]!.offset, 1);
      assert.equal(pubs[0]!.info?.user, 'alice');

      // A publication from elsewhere (a WebSocket client) reaches the emulated subscriber too.
      const other = server.wsClient({ token: await sign({ sub: 'bob' }) });
      other.connect();
      await connected(other);
      await other.publish('chat:room', { text: 'from ws' });
      await waitUntilEvent(s, 'publication', () => pubs.length === 2);
      assert.deepEqual(pubs[1]!.data, { text: 'from ws' });

      // Presence and history over emulation.
      const presence = await s.presence();
      assert.deepEqual(Object.values(presence.clients).map((i) => i.user), ['alice']);
      const history = await s.history({ limit: 10 });
      assert.equal(history.publications.length, 2);
    });

    it('12. rpc round trip; an unknown method is error 108', async () => {
      await start();
      server.node.registerRpc('echo', (ctx, data) => ({ echo: data, transport: ctx.transport, user: ctx.user }));
      const c = server.client(transport, { token: await sign({ sub: 'carol' }) });
      c.connect();
      await connected(c);
      const result = await c.rpc('echo', { n: 1 });
      assert.deepEqual(result.data, { echo: { n: 1 }, transport, user: 'carol' });
      await assert.rejects(c.rpc('nope', {}), (e: { code: number }) => e.code === 108);
    });

    it('12. pings every second are answered with pongs over /emulation; the connection stays up', async () => {
      await start({ realtime: { pingIntervalSeconds: 1, pongTimeoutSeconds: 1 } });
      const c = server.client(transport, { token: await sign({ sub: 'dan' }) });
      c.connect();
      await connected(c);
      const disconnects = collect<Ctx>(c, 'connecting');
      const [session] = server.node.userConnections('dan');
      assert.ok(session);
      await waitUntil(async () => session.pongs >= 2 || session.state === 'closed', { timeoutMs: 6000, what: 'two pongs' });
      assert.equal(session.state, 'connected');
      assert.equal(disconnects.length, 0, 'no reconnect while pings are answered');
    });

    it('12. disconnect push: 3011 makes the client reconnect and resubscribe; 3503 leaves it disconnected', async () => {
      await start();
      const c = server.client(transport, { token: await sign({ sub: 'erin' }) });
      const s = c.newSubscription('chat:x');
      s.subscribe();
      c.connect();
      await subscribed(s);

      const reconnecting = waitEvent<Ctx>(c, 'connecting', (ctx) => ctx.code === DISCONNECTS.forceReconnect.code);
      const resubscribed = subscribed(s, 8000);
      await server.node.disconnectUser('erin', { disconnect: DISCONNECTS.forceReconnect });
      const ctx = await reconnecting;
      assert.equal(ctx.reason, DISCONNECTS.forceReconnect.reason);
      await resubscribed;
      assert.equal(c.state, 'connected');

      const disconnected = waitEvent<Ctx>(c, 'disconnected');
      await server.node.disconnectUser('erin');
      const final = await disconnected;
      assert.equal(final.code, DISCONNECTS.forceDisconnect.code);
      assert.equal(c.state, 'disconnected');
      assert.equal(server.node.userConnections('erin').length, 0);
    });

    it('12. recovery after a dropped stream: the publications missed while away come back with recovered: true', async () => {
      await start();
      // A reconnect delay long enough to publish while the client is away (bounds, not a sleep).
      const c = server.client(transport, { token: await sign({ sub: 'fay' }), minReconnectDelay: 600, maxReconnectDelay: 700 });
      const s = c.newSubscription('chat:recover');
      const pubs = collect<PubCtx>(s, 'publication');
      s.subscribe();
      c.connect();
      await subscribed(s);
      await server.node.publish('chat:recover', { n: 0 });
      await waitUntilEvent(s, 'publication', () => pubs.length === 1);

      const [session] = server.node.userConnections('fay');
      assert.ok(session);
      const reconnecting = waitEvent<Ctx>(c, 'connecting');
      const again = waitEvent<SubscribedCtx>(s, 'subscribed', () => true, 8000);
      // The network drops the stream: the server sees the connection end, the client too.
      (session.transport as ResponseStreamTransport).destroy();
      await reconnecting;
      await waitUntil(async () => session.state === 'closed', { what: 'the server to see the drop' });
      for (let n = 1; n <= 3; n++) await server.node.publish('chat:recover', { n });
      const ctx = await again;
      assert.equal(ctx.wasRecovering, true);
      assert.equal(ctx.recovered, true);
      await waitUntilEvent(s, 'publication', () => pubs.length === 4);
      assert.deepEqual(
        pubs.map((p) => p.offset),
        [1, 2, 3, 4],
      );
      assert.deepEqual(
        pubs.map((p) => (p.data as { n: number }).n),
        [0, 1, 2, 3],
      );
    });

    it('a request for another instance is routed over the Bus to the instance that holds the session', async () => {
      await start();
      const peer = await backend.createPeer();
      const other = await startHttpRealtime({ backend: peer });
      extra.push(other);
      assert.notEqual(other.node.instanceId, server.node.instanceId);
      server.node.registerRpc('where', () => ({ node: server.node.instanceId }));
      // The stream is on `server`; every command goes to `other`'s /emulation (no sticky sessions).
      const c = server.client(transport, { token: await sign({ sub: 'gus' }) }, other.base);
      const s = c.newSubscription('chat:routed');
      const pubs = collect<PubCtx>(s, 'publication');
      s.subscribe();
      c.connect();
      await subscribed(s);
      await s.publish({ via: 'peer' });
      await waitUntilEvent(s, 'publication', () => pubs.length === 1);
      assert.deepEqual((await c.rpc('where', null)).data, { node: server.node.instanceId });
      assert.equal(other.node.userConnections('gus').length, 0, 'the session stays where its stream is');
    });
  });
}

describe('emulation requests routed between two instances on one Redis', () => {
  const redis = realtimeBackends.find((f) => f.name === 'redis')!;
  let backend: RealtimeBackend;
  const servers: HttpRealtimeServer[] = [];

  beforeEach(async () => {
    backend = await redis.create();
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    await backend.cleanup();
  });

  it('a client streaming from A and posting its commands to B works as if B were A', async () => {
    const a = await startHttpRealtime({ backend });
    servers.push(a);
    const b = await startHttpRealtime({ backend: await backend.createPeer() });
    servers.push(b);
    const c = a.client('sse', { token: await sign({ sub: 'ray' }) }, b.base);
    const s = c.newSubscription('chat:redis');
    const pubs = collect<PubCtx>(s, 'publication');
    s.subscribe();
    c.connect();
    await subscribed(s);
    await s.publish({ over: 'redis' });
    await waitUntilEvent(s, 'publication', () => pubs.length === 1);
    assert.deepEqual(pubs[0]!.data, { over: 'redis' });
    assert.equal(a.node.userConnections('ray').length, 1);
    assert.equal(b.node.userConnections('ray').length, 0);
  });
});

describe('realtime emulation endpoints (raw HTTP)', () => {
  let backend: RealtimeBackend;
  let server: HttpRealtimeServer;
  const readers: StreamReader[] = [];

  beforeEach(async () => {
    backend = await memory.create();
    server = await startHttpRealtime({ backend });
  });
  afterEach(async () => {
    for (const r of readers.splice(0)) await r.close();
    await server.close();
    await backend.cleanup();
  });

  async function openHttpStream(body: string): Promise<StreamReader> {
    const r = await StreamReader.open(`${server.base}/connection/http_stream`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    readers.push(r);
    return r;
  }

  async function emulate(body: unknown, raw?: string): Promise<Response> {
    return fetch(`${server.base}/emulation`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: raw ?? JSON.stringify(body),
    });
  }

  it('http_stream: one reply per line; commands over /emulation answer 204 and their replies come down the stream', async () => {
    const token = await sign({ sub: 'hal' });
    const r = await openHttpStream(JSON.stringify({ id: 1, connect: { token, name: 'raw' } }));
    assert.equal(r.status, 200);
    const connect = (await r.waitFor((m) => m.id === 1)).connect as { client: string; session: string; node: string };
    assert.equal(connect.node, server.node.instanceId);
    assert.equal(typeof connect.session, 'string');
    // Two commands in one request, as the client batches them.
    const res = await emulate({
      session: connect.session,
      node: connect.node,
      data: [JSON.stringify({ id: 2, subscribe: { channel: 'chat:raw' } }), JSON.stringify({ id: 3, publish: { channel: 'chat:raw', data: { a: 1 } } })].join('\n'),
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    await r.waitFor((m) => m.id === 2 && 'subscribe' in m);
    await r.waitFor((m) => m.id === 3 && 'publish' in m);
    const pub = await r.waitFor((m) => (m.push as { pub?: unknown } | undefined)?.pub !== undefined);
    assert.deepEqual((pub.push as { channel: string }).channel, 'chat:raw');
  });

  it('bad emulation requests: unknown session 404, malformed 400, data not a string 400, over 64 KB 413; OPTIONS 204 with CORS; the server stays up', async () => {
    const token = await sign({ sub: 'ida' });
    const r = await openHttpStream(JSON.stringify({ id: 1, connect: { token } }));
    const connect = (await r.waitFor((m) => m.id === 1)).connect as { session: string; node: string };

    const unknown = await emulate({ session: 'nope', node: server.node.instanceId, data: '{}' });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'REALTIME_SESSION_NOT_FOUND');

    const malformed = await emulate(null, '{"session": ');
    assert.equal(malformed.status, 400);
    const notString = await emulate({ session: connect.session, node: connect.node, data: { id: 2, rpc: {} } });
    assert.equal(notString.status, 400);
    assert.match(((await notString.json()) as { error: { message: string } }).error.message, /data must be a string/);
    const missing = await emulate({ node: connect.node, data: '' });
    assert.equal(missing.status, 400);

    const huge = await emulate({ session: connect.session, node: connect.node, data: 'x'.repeat(70 * 1024) });
    assert.equal(huge.status, 413);
    assert.equal(huge.headers.get('access-control-allow-origin'), '*', 'a browser client can read the refusal');

    const preflight = await fetch(`${server.base}/emulation`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
    assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'content-type');
    const streamPreflight = await fetch(`${server.base}/connection/http_stream`, { method: 'OPTIONS' });
    assert.equal(streamPreflight.status, 204);

    // The session survived all of that and still answers.
    const ok = await emulate({ session: connect.session, node: connect.node, data: JSON.stringify({ id: 5, presence_stats: { channel: 'chat:a' } }) });
    assert.equal(ok.status, 204);
    await r.waitFor((m) => m.id === 5);
  });

  it('a malformed connect command ends the stream with disconnect push 3501; an empty one is 400; a huge one 413', async () => {
    const r = await openHttpStream('{"id":1,"connect":');
    assert.equal(r.status, 200);
    const push = await r.waitFor((m) => m.push !== undefined);
    assert.deepEqual((push.push as { disconnect: Ctx }).disconnect, { code: DISCONNECTS.badRequest.code, reason: DISCONNECTS.badRequest.reason });
    await r.waitEnd();

    const empty = await fetch(`${server.base}/connection/http_stream`, { method: 'POST', body: '' });
    assert.equal(empty.status, 400);
    const huge = await fetch(`${server.base}/connection/http_stream`, { method: 'POST', body: JSON.stringify({ id: 1, connect: { token: 'x'.repeat(70_000) } }) });
    assert.equal(huge.status, 413);
    const noParam = await fetch(`${server.base}/connection/sse`);
    assert.equal(noParam.status, 400);

    // An invalid token: 3500 in a disconnect push (terminal for the client).
    const bad = await openHttpStream(JSON.stringify({ id: 1, connect: { token: 'a.b.c' } }));
    const badPush = await bad.waitFor((m) => m.push !== undefined);
    assert.equal((badPush.push as { disconnect: Ctx }).disconnect.code, DISCONNECTS.invalidToken.code);
    await bad.waitEnd();
  });

  it('sse: text/event-stream, \\r\\n first, one data: event per reply', async () => {
    const token = await sign({ sub: 'jon' });
    const url = `${server.base}/connection/sse?cf_connect=${encodeURIComponent(JSON.stringify({ id: 1, connect: { token } }))}`;
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const deadline = Date.now() + 5000;
    while (!text.includes('\n\n') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.ok(text.startsWith('\r\n'), 'the stream opens with \\r\\n');
    assert.match(text.slice(2), /^data: \{"id":1,"connect":\{.*\}\}\n\n/);
    await reader.cancel();
  });

  it('a consumer that stops reading is disconnected as slow (3008) and its socket is cut off', async () => {
    await server.close();
    server = await startHttpRealtime({ backend, realtime: { maxQueuedBytes: 64 * 1024 } });
    const token = await sign({ sub: 'slo', channels: ['nohist:flood'] });
    const closedBySession = new Promise<number>((resolve) => server.node.on('disconnect', (s, code) => s.user === 'slo' && resolve(code)));
    // A raw request whose response is never read.
    const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/connection/http_stream', method: 'POST' });
    req.on('error', () => {});
    const response = new Promise<IncomingMessage>((resolve) => req.on('response', resolve));
    req.end(JSON.stringify({ id: 1, connect: { token } }));
    (await response).pause();
    await waitUntil(async () => server.node.userConnections('slo').length === 1, { what: 'connected' });
    const transport = server.node.userConnections('slo')[0]!.transport as ResponseStreamTransport;
    const cutOff = new Promise<void>((resolve) => transport.onEnd(resolve));
    // The kernel's socket buffers take a few MB before anything queues in the process.
    const payload = 'x'.repeat(16 * 1024);
    let code: number | undefined;
    void closedBySession.then((c) => (code = c));
    for (let i = 0; i < 3000 && code === undefined; i++) {
      await server.node.publish('nohist:flood', payload);
      // Let the transport hand its batch to the socket, as it does between event-loop turns.
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(await closedBySession, DISCONNECTS.slow.code);
    // It reads nothing, so the end of the response never drains: the grace timer destroys it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([cutOff, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('socket not cut off')), 5000)))]);
    clearTimeout(timer);
    req.destroy();
  });

  it('closing the app ends open streams with a 3001 disconnect push instead of waiting for them', async () => {
    const token = await sign({ sub: 'kim' });
    const r = await openHttpStream(JSON.stringify({ id: 1, connect: { token } }));
    await r.waitFor((m) => m.id === 1);
    const started = Date.now();
    await server.app.close();
    assert.ok(Date.now() - started < 3000, 'close did not wait on the open stream');
    const push = await r.waitFor((m) => m.push !== undefined);
    assert.equal((push.push as { disconnect: Ctx }).disconnect.code, DISCONNECTS.shutdown.code);
    await r.waitEnd();
  });
});
