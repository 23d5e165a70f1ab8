/**
 * Unidirectional transports (uni_sse, uni_http_stream, uni_websocket) with plain consumers:
 * undici's fetch reading the event stream, undici's EventSource, and a raw `ws` socket. The
 * consumer sends one bare ConnectRequest and receives bare pushes: the connect push first,
 * publications of the token's `channels`, server-side subscribes, pings `{}` that need no
 * pong, and a disconnect before the stream ends. Memory back-ends, real fastify app.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { EventSource } from 'undici';
import WebSocket from 'ws';
import { DISCONNECTS } from '../../src/realtime/protocol/codes.js';
import { realtimeBackends, waitUntil, type RealtimeBackend } from '../helpers/realtime-backends.js';
import { sign } from './realtime-harness.js';
import { startHttpRealtime, StreamReader, type HttpRealtimeServer } from './realtime-http-harness.js';

const memory = realtimeBackends.find((f) => f.name === 'memory')!;

interface ConnectPush {
  client: string;
  version: string;
  ping?: number;
  pong?: boolean;
  session?: string;
  subs?: Record<string, { recoverable?: boolean; recovered?: boolean; epoch?: string; offset?: number; publications?: Array<{ data: unknown; offset?: number }> }>;
}

describe('realtime unidirectional transports', () => {
  let backend: RealtimeBackend;
  let server: HttpRealtimeServer;
  const readers: StreamReader[] = [];
  const sockets: WebSocket[] = [];

  async function start(options: Omit<Parameters<typeof startHttpRealtime>[0], 'backend'> = {}): Promise<HttpRealtimeServer> {
    server = await startHttpRealtime({ backend, ...options });
    return server;
  }

  async function uniSse(request: unknown): Promise<StreamReader> {
    const url = `${server.base}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify(request))}`;
    const r = await StreamReader.open(url, { sse: true, headers: { accept: 'text/event-stream' } });
    readers.push(r);
    return r;
  }

  async function uniHttpStream(body: string): Promise<StreamReader> {
    const r = await StreamReader.open(`${server.base}/connection/uni_http_stream`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    readers.push(r);
    return r;
  }

  beforeEach(async () => {
    backend = await memory.create();
  });
  afterEach(async () => {
    for (const r of readers.splice(0)) await r.close();
    for (const ws of sockets.splice(0)) ws.terminate();
    await server?.close();
    await backend.cleanup();
  });

  it('uni_sse: connect push, publications of token channels, server-side subscribe, pings without pongs, disconnect then end', async () => {
    await start({ realtime: { pingIntervalSeconds: 1, pongTimeoutSeconds: 1 } });
    const token = await sign({ sub: 'una', channels: ['chat:uni'] });
    const r = await uniSse({ token, name: 'plain-consumer' });
    assert.equal(r.status, 200);
    assert.match(r.headers?.get('content-type') ?? '', /^text\/event-stream/);

    const first = r.messages[0] ?? (await r.waitFor(() => true));
    const connect = first.connect as ConnectPush;
    assert.ok(connect, `the first push is connect: ${JSON.stringify(first)}`);
    assert.equal(typeof connect.client, 'string');
    assert.equal(connect.session, undefined, 'no emulation session on a unidirectional transport');
    assert.equal(connect.ping, 1);
    assert.ok(connect.subs?.['chat:uni'], 'the channels claim is subscribed on connect');

    await server.node.publish('chat:uni', { hello: 'uni' });
    const pub = await r.waitFor((m) => m.channel === 'chat:uni' && m.pub !== undefined);
    assert.deepEqual(pub.pub, { data: { hello: 'uni' }, offset: 1 });
    assert.equal('push' in pub, false, 'bare pushes, not wrapped');

    // Server-side subscribe through the API path.
    await server.node.subscribeUser('una', 'chat:later');
    await r.waitFor((m) => m.channel === 'chat:later' && m.subscribe !== undefined);
    await server.node.publish('chat:later', 'second');
    await r.waitFor((m) => m.channel === 'chat:later' && (m.pub as { data?: unknown } | undefined)?.data === 'second');

    // Pings are `{}` lines; the consumer never answers and stays connected past the pong timeout.
    const [session] = server.node.userConnections('una');
    assert.ok(session);
    await waitUntil(async () => r.lines.filter((l) => l === '{}').length >= 2 || session.state === 'closed', { timeoutMs: 6000, what: 'two pings' });
    assert.equal(session.state, 'connected');

    await server.node.disconnectUser('una');
    const disconnect = await r.waitFor((m) => m.disconnect !== undefined);
    assert.deepEqual(disconnect.disconnect, { code: DISCONNECTS.forceDisconnect.code, reason: DISCONNECTS.forceDisconnect.reason });
    await r.waitEnd();
  });

  it('uni_sse works with a standard EventSource', async () => {
    await start();
    const token = await sign({ sub: 'eve', channels: ['chat:es'] });
    const url = `${server.base}/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token }))}`;
    const es = new EventSource(url);
    const received: Array<Record<string, unknown>> = [];
    let notify: () => void = () => {};
    es.onmessage = (e) => {
      received.push(JSON.parse(String(e.data)) as Record<string, unknown>);
      notify();
    };
    try {
      const waitFor = (check: () => boolean, what: string): Promise<void> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(received)}`)), 5000);
          notify = () => {
            if (check()) {
              clearTimeout(timer);
              resolve();
            }
          };
          notify();
        });
      await waitFor(() => received.some((m) => m.connect !== undefined), 'connect');
      await server.node.publish('chat:es', { via: 'eventsource' });
      await waitFor(() => received.some((m) => m.channel === 'chat:es'), 'publication');
    } finally {
      es.close();
    }
  });

  it('uni_http_stream: a bare ConnectRequest with subs recovers what was missed', async () => {
    await start();
    const token = await sign({ sub: 'rob', channels: ['chat:rec'] });
    const first = await uniHttpStream(JSON.stringify({ token }));
    const c1 = (await first.waitFor((m) => m.connect !== undefined)).connect as ConnectPush;
    const position = c1.subs?.['chat:rec'];
    assert.ok(position?.recoverable);
    await server.node.publish('chat:rec', 1);
    const pub = await first.waitFor((m) => m.pub !== undefined);
    const offset = (pub.pub as { offset: number }).offset;
    await first.close();
    await waitUntil(async () => server.node.userConnections('rob').length === 0, { what: 'the first stream to be gone' });

    await server.node.publish('chat:rec', 2);
    await server.node.publish('chat:rec', 3);
    const second = await uniHttpStream(JSON.stringify({ token, subs: { 'chat:rec': { recover: true, offset, epoch: position.epoch } } }));
    const c2 = (await second.waitFor((m) => m.connect !== undefined)).connect as ConnectPush;
    const sub = c2.subs?.['chat:rec'];
    assert.equal(sub?.recovered, true);
    assert.deepEqual(
      sub?.publications?.map((p) => p.data),
      [2, 3],
    );
  });

  it('connect failures end the stream with a disconnect; bad requests are 400; the server stays up', async () => {
    await start();
    const invalid = await uniHttpStream(JSON.stringify({ token: 'not.a.jwt' }));
    assert.equal((await invalid.waitFor((m) => m.disconnect !== undefined)).disconnect && true, true);
    assert.equal((invalid.messages.at(-1)!.disconnect as { code: number }).code, DISCONNECTS.invalidToken.code);
    await invalid.waitEnd();

    // Expired token (reply error 109) → 3005, as the reference maps it for unidirectional clients.
    const expired = await uniHttpStream(JSON.stringify({ token: await sign({ sub: 'old' }, { expSeconds: -10 }) }));
    assert.equal(((await expired.waitFor((m) => m.disconnect !== undefined)).disconnect as { code: number }).code, DISCONNECTS.expired.code);
    await expired.waitEnd();

    // A channels claim in an unknown namespace (error 102) is terminal: 3501.
    const unknown = await uniSse({ token: await sign({ sub: 'x', channels: ['nosuchns:a'] }) });
    assert.equal(((await unknown.waitFor((m) => m.disconnect !== undefined)).disconnect as { code: number }).code, DISCONNECTS.badRequest.code);

    // No token and no anonymous access: 3501.
    const anonymous = await uniHttpStream('');
    assert.equal(((await anonymous.waitFor((m) => m.disconnect !== undefined)).disconnect as { code: number }).code, DISCONNECTS.badRequest.code);

    const malformed = await fetch(`${server.base}/connection/uni_http_stream`, { method: 'POST', body: '{"token": ' });
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as { error: { code: string } }).error.code, 'BAD_JSON');
    const notObject = await fetch(`${server.base}/connection/uni_sse?cf_connect=${encodeURIComponent('[1,2]')}`);
    assert.equal(notObject.status, 400);

    const ok = await uniSse({ token: await sign({ sub: 'fine' }) });
    await ok.waitFor((m) => m.connect !== undefined);
  });

  it('uni_websocket: the first message is the ConnectRequest; one bare push per message; disconnect is a close frame', async () => {
    await start();
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/connection/uni_websocket`);
    sockets.push(ws);
    const messages: Array<Record<string, unknown>> = [];
    let notify: () => void = () => {};
    ws.on('message', (data) => {
      messages.push(JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>);
      notify();
    });
    const waitFor = (check: () => boolean, what: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(messages)}`)), 5000);
        notify = () => {
          if (check()) {
            clearTimeout(timer);
            resolve();
          }
        };
        notify();
      });
    await once(ws, 'open');
    ws.send(JSON.stringify({ token: await sign({ sub: 'wes', channels: ['chat:ws'] }) }));
    await waitFor(() => messages.some((m) => m.connect !== undefined), 'connect');
    await server.node.publish('chat:ws', { n: 1 });
    await waitFor(() => messages.some((m) => m.channel === 'chat:ws'), 'publication');
    // Later client messages are ignored.
    ws.send('garbage');
    const closed = once(ws, 'close') as Promise<[number, Buffer]>;
    await server.node.disconnectUser('wes', { disconnect: DISCONNECTS.forceReconnect });
    const [code, reason] = await closed;
    assert.equal(code, DISCONNECTS.forceReconnect.code);
    assert.equal(reason.toString(), DISCONNECTS.forceReconnect.reason);
  });
});
