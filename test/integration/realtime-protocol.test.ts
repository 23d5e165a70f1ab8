/**
 * The client protocol over WebSocket with the real `centrifuge` client (and a raw client where
 * the wire itself is under test), on the memory back-ends: framing, connect/auth, pings,
 * disconnect codes, refresh, subscribe errors, unsubscribe pushes, rpc/send, server-side
 * subscriptions, limits, bad input, slow consumers and graceful shutdown.
 * The conformance items of docs/protocol.md are named in the test titles.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Centrifuge, Subscription as ClientSubscription } from 'centrifuge';
import type { Bus, BusHandler } from '../../src/realtime/bus.js';
import { DISCONNECTS, ERRORS, ReplyError, UNSUBSCRIBES } from '../../src/realtime/protocol/codes.js';
import type { BusMessage, ControlCommand, HistoryOptions, StreamPosition } from '../../src/realtime/types.js';
import { realtimeBackends, waitUntil, type RealtimeBackend } from '../helpers/realtime-backends.js';
import {
  FreezableProxy,
  collect,
  sign,
  startRealtime,
  waitEvent,
  waitUntilEvent,
  type RealtimeServer,
} from './realtime-harness.js';

const memory = realtimeBackends.find((f) => f.name === 'memory')!;

interface Ctx {
  code: number;
  reason: string;
}

function connected(c: Centrifuge, timeoutMs = 5000): Promise<unknown> {
  return waitEvent(c, 'connected', () => true, timeoutMs);
}

function subscribed(s: ClientSubscription, timeoutMs = 5000): Promise<{ recovered: boolean; wasRecovering: boolean; streamPosition?: { offset: number; epoch: string } }> {
  return waitEvent(s, 'subscribed', () => true, timeoutMs);
}

describe('realtime protocol over WebSocket (memory)', () => {
  let backend: RealtimeBackend;
  let server: RealtimeServer;

  async function start(options: Omit<Parameters<typeof startRealtime>[0], 'backend'> = {}): Promise<RealtimeServer> {
    server = await startRealtime({ backend, ...options });
    return server;
  }

  beforeEach(async () => {
    backend = await memory.create();
  });
  afterEach(async () => {
    await server?.close();
    await backend.cleanup();
  });

  it('1. connect and subscribe arrive in one frame; the connect reply comes first', async () => {
    await start();
    const token = await sign({ sub: 'alice' });
    const raw = await server.raw();
    raw.sendBatch([
      { id: 1, connect: { token, name: 'raw' } },
      { id: 2, subscribe: { channel: 'chat:one', flag: 1 } },
    ]);
    const sub = await raw.reply(2);
    const conn = await raw.reply(1);
    assert.ok(raw.received.indexOf(conn) < raw.received.indexOf(sub), 'connect reply precedes subscribe reply');
    const result = conn.connect as Record<string, unknown>;
    assert.equal(typeof result.client, 'string');
    assert.equal(result.ping, 25);
    assert.equal(result.pong, true);
    const subResult = sub.subscribe as Record<string, unknown>;
    assert.equal(subResult.recoverable, true);
    assert.equal(subResult.positioned, true);
    assert.equal(typeof subResult.epoch, 'string');

    // The real client batches the same way and ends up subscribed.
    const c = server.client({ token });
    const s = c.newSubscription('chat:two');
    s.subscribe();
    c.connect();
    await subscribed(s);
  });

  it('2. pings every second are answered with pongs; when pings stop the client reconnects and the server closes the dead one with 3012', async () => {
    await start({ realtime: { pingIntervalSeconds: 1, pongTimeoutSeconds: 1 } });
    const proxy = await FreezableProxy.start(server.port);
    try {
      const token = await sign({ sub: 'alice' });
      const c = server.client({ token, maxServerPingDelay: 500 }, `ws://127.0.0.1:${proxy.port}/connection/websocket`);
      const firstConnected = connected(c);
      c.connect();
      await firstConnected;
      const [session] = server.node.userConnections('alice');
      assert.ok(session);
      // Several ping/pong rounds keep the connection alive.
      await waitUntil(async () => session.pongs >= 2 || session.state === 'closed', { timeoutMs: 5000, what: 'two pongs' });
      assert.equal(session.state, 'connected');
      const serverClose = new Promise<{ code: number }>((resolve) =>
        server.node.on('disconnect', (s, code) => {
          if (s === session) resolve({ code });
        }),
      );
      const reconnecting = waitEvent<Ctx>(c, 'connecting', () => true, 5000);
      const reconnected = connected(c, 8000);
      proxy.freeze();
      const ctx = await reconnecting;
      assert.equal(ctx.code, 2, 'the client reconnects for lack of pings (connecting code 2, no ping)');
      await reconnected;
      assert.equal((await serverClose).code, DISCONNECTS.noPong.code);
      proxy.dropFrozen();
    } finally {
      await proxy.close();
    }
  });

  it('4. close 3001 → the client reconnects and resubscribes; 3501 → it stays disconnected', async () => {
    await start();
    const c = server.client({ token: await sign({ sub: 'bob' }) });
    const s = c.newSubscription('chat:room');
    s.subscribe();
    c.connect();
    await subscribed(s);
    const reconnecting = waitEvent<Ctx>(c, 'connecting', (ctx) => ctx.code === DISCONNECTS.shutdown.code);
    const resubscribed = waitEvent(s, 'subscribed', () => true, 5000);
    await server.node.disconnectUser('bob', { disconnect: DISCONNECTS.shutdown });
    await reconnecting;
    await resubscribed;
    assert.equal(server.node.userConnections('bob').length, 1);

    const disconnected = waitEvent<Ctx>(c, 'disconnected');
    await server.node.disconnectUser('bob', { disconnect: DISCONNECTS.badRequest });
    assert.equal((await disconnected).code, DISCONNECTS.badRequest.code);
    assert.equal(c.state, 'disconnected');
    // Nothing comes back: the node sees no session of bob (checked after the client had time to reconnect).
    const probe = server.client({ token: await sign({ sub: 'probe' }) });
    probe.connect();
    await connected(probe);
    assert.equal(server.node.userConnections('bob').length, 0);
    assert.equal(c.state, 'disconnected');
  });

  it('5. an expired connection token gets error 109; the client fetches a new one with getToken', async () => {
    await start();
    let calls = 0;
    const c = server.client({
      token: await sign({ sub: 'carol', exp: Math.floor(Date.now() / 1000) - 10 }),
      getToken: async () => {
        calls++;
        return sign({ sub: 'carol' }, { expSeconds: 3600 });
      },
    });
    const errors = collect<{ error: { code: number } }>(c, 'error');
    c.connect();
    await connected(c);
    assert.equal(calls, 1);
    assert.ok(errors.some((e) => e.error.code === ERRORS.tokenExpired.code), 'the client saw error 109');
  });

  it('5b. an expired token without getToken never connects', async () => {
    await start();
    const c = server.client({ token: await sign({ sub: 'carol', exp: Math.floor(Date.now() / 1000) - 10 }) });
    const disconnected = waitEvent<Ctx>(c, 'disconnected');
    c.on('connected', () => assert.fail('must not connect'));
    c.connect();
    await disconnected;
    assert.equal(server.node.userConnections('carol').length, 0);
  });

  it('6. a token with ttl 2 s is refreshed before it expires; an unrefreshed one is closed with 3005', async () => {
    await start({ tuning: { expiredCloseDelayMs: 2000 } });
    let refreshes = 0;
    const c = server.client({
      token: await sign({ sub: 'dave' }, { expSeconds: 2 }),
      getToken: async () => {
        refreshes++;
        return sign({ sub: 'dave' }, { expSeconds: 3600 });
      },
    });
    c.connect();
    await connected(c);
    const [session] = server.node.userConnections('dave');
    assert.ok(session && session.expireAt > 0);
    await waitUntil(async () => session.expireAt > Date.now() / 1000 + 600, { timeoutMs: 6000, what: 'refresh' });
    assert.equal(refreshes, 1);
    assert.equal(session.state, 'connected');

    // A client that never refreshes (the JS client without getToken gives up by itself, so a
    // raw one) is closed as expired once the grace after `exp` is over.
    const raw = await server.raw();
    raw.send({ id: 1, connect: { token: await sign({ sub: 'erin' }, { expSeconds: 1 }) } });
    const reply = await raw.reply(1);
    assert.equal((reply.connect as { expires: boolean }).expires, true);
    assert.equal((await raw.waitClose(6000)).code, DISCONNECTS.expired.code);
  });

  it('8. subscribe error 103 ends the subscription; a temporary error (100) is retried', async () => {
    const flaky = new FlakyBus(backend.bus, 1);
    server = await startRealtime({ backend: { ...backend, bus: flaky } });
    const c = server.client({ token: await sign({ sub: 'fred' }) });
    c.connect();
    const denied = c.newSubscription('closed:x');
    const unsubscribed = waitEvent<Ctx>(denied, 'unsubscribed');
    denied.subscribe();
    assert.equal((await unsubscribed).code, ERRORS.permissionDenied.code);

    const retried = c.newSubscription('chat:flaky');
    const errors = collect<{ error: { code: number } }>(retried, 'error');
    retried.subscribe();
    await subscribed(retried);
    assert.deepEqual(errors.map((e) => e.error.code), [ERRORS.internal.code]);
    assert.equal(flaky.failed, 1);
  });

  it('8b. an unknown namespace is 102, a second subscribe is 105', async () => {
    await start();
    const raw = await server.raw();
    raw.sendBatch([
      { id: 1, connect: { token: await sign({ sub: 'gina' }) } },
      { id: 2, subscribe: { channel: 'nope:x' } },
      { id: 3, subscribe: { channel: 'chat:a' } },
      { id: 4, subscribe: { channel: 'chat:a' } },
    ]);
    assert.equal(((await raw.reply(2)).error as { code: number }).code, 102);
    assert.ok((await raw.reply(3)).subscribe);
    assert.equal(((await raw.reply(4)).error as { code: number }).code, 105);
  });

  it('9. unsubscribe push 2000 ends a subscription; 2500 (a gap) makes the client resubscribe and recover', async () => {
    await start();
    const c = server.client({ token: await sign({ sub: 'hank' }) });
    const ended = c.newSubscription('chat:end');
    const kept = c.newSubscription('chat:gap');
    ended.subscribe();
    kept.subscribe();
    c.connect();
    await Promise.all([subscribed(ended), subscribed(kept)]);

    const unsubscribed = waitEvent<Ctx>(ended, 'unsubscribed');
    await server.node.unsubscribeUser('hank', 'chat:end');
    assert.equal((await unsubscribed).code, UNSUBSCRIBES.server.code);

    const pubs = collect<{ data: unknown; offset?: number }>(kept, 'publication');
    await server.node.publish('chat:gap', { n: 1 });
    await waitUntilEvent(kept, 'publication', () => pubs.length === 1);
    // A publication that skips offsets: the Bus lost something. The client must resubscribe.
    const resubscribing = waitEvent<Ctx>(kept, 'subscribing', (ctx) => ctx.code === UNSUBSCRIBES.insufficientState.code);
    const again = waitEvent<{ recovered: boolean; wasRecovering: boolean }>(kept, 'subscribed');
    await backend.bus.publish('chat:gap', { type: 'pub', publication: { offset: 50, data: { lost: true } } });
    await resubscribing;
    const ctx = await again;
    assert.equal(ctx.wasRecovering, true);
    assert.equal(ctx.recovered, true);
    assert.equal(pubs.length, 1, 'the out-of-stream publication was not delivered');
  });

  it('10. rpc with a handler answers, without one is 108; send reaches the send handler', async () => {
    await start();
    server.node.registerRpc('sum', (ctx, data) => {
      const { a, b } = data as { a: number; b: number };
      return { sum: a + b, user: ctx.user };
    });
    server.node.registerRpc('fail', () => {
      throw new ReplyError({ code: 400, message: 'app says no' });
    });
    const sent: unknown[] = [];
    server.node.onSend((ctx, data) => sent.push({ user: ctx.user, data }));
    const c = server.client({ token: await sign({ sub: 'ivy' }) });
    c.connect();
    await connected(c);
    assert.deepEqual((await c.rpc('sum', { a: 2, b: 3 })).data, { sum: 5, user: 'ivy' });
    await assert.rejects(c.rpc('missing', {}), (e: { code: number }) => e.code === ERRORS.notAvailable.code);
    await assert.rejects(c.rpc('fail', {}), (e: { code: number; message: string }) => e.code === 400 && e.message === 'app says no');
    await c.send({ hello: 'world' });
    await waitUntil(async () => sent.length === 1, { what: 'send' });
    assert.deepEqual(sent[0], { user: 'ivy', data: { hello: 'world' } });
  });

  it('11. server-side subscriptions: from the token on connect, and by subscribeUser with a subscribe push', async () => {
    await start();
    const c = server.client({ token: await sign({ sub: 'jack', channels: ['chat:srv'] }) });
    const subscribedServer = collect<{ channel: string }>(c, 'subscribed');
    const pubs = collect<{ channel: string; data: unknown }>(c, 'publication');
    c.connect();
    await waitUntilEvent(c, 'subscribed', () => subscribedServer.find((e) => e.channel === 'chat:srv'));
    await server.node.publish('chat:srv', { hi: 1 });
    await waitUntilEvent(c, 'publication', () => pubs.find((p) => p.channel === 'chat:srv'));

    await server.node.subscribeUser('jack', 'chat:later');
    await waitUntilEvent(c, 'subscribed', () => subscribedServer.find((e) => e.channel === 'chat:later'));
    await server.node.publish('chat:later', { hi: 2 });
    await waitUntilEvent(c, 'publication', () => pubs.find((p) => p.channel === 'chat:later'));
    assert.deepEqual(pubs.map((p) => p.data), [{ hi: 1 }, { hi: 2 }]);

    const gone = waitEvent<{ channel: string }>(c, 'unsubscribed', (e) => e.channel === 'chat:later');
    await server.node.unsubscribeUser('jack', 'chat:later');
    await gone;
  });

  it('invalid tokens never connect (3500): wrong key, garbage, a subscription token', async () => {
    await start();
    for (const token of [await sign({ sub: 'x' }, { key: 'another-key' }), 'not.a.jwt', await sign({ sub: 'x', channel: 'chat:a' })]) {
      const c = server.client({ token });
      const disconnected = waitEvent<Ctx>(c, 'disconnected');
      c.on('connected', () => assert.fail('must not connect'));
      c.connect();
      assert.equal((await disconnected).code, DISCONNECTS.invalidToken.code);
    }
    assert.equal(server.node.stats().numClients, 0);
  });

  it('no credentials: 3501 unless anonymous access is on', async () => {
    await start();
    const c = server.client({});
    const disconnected = waitEvent<Ctx>(c, 'disconnected');
    c.connect();
    assert.equal((await disconnected).code, DISCONNECTS.badRequest.code);
    await server.close();

    server = await startRealtime({ backend, realtime: { allowAnonymous: true } });
    const anon = server.client({});
    const pub = anon.newSubscription('public:lobby');
    const denied = anon.newSubscription('chat:users-only');
    const deniedCode = waitEvent<Ctx>(denied, 'unsubscribed');
    pub.subscribe();
    denied.subscribe();
    anon.connect();
    await subscribed(pub);
    assert.equal((await deniedCode).code, ERRORS.permissionDenied.code);
  });

  it('private channels need a subscription token for this user and channel; an expired one gets 109 and a new one', async () => {
    await start();
    const c = server.client({ token: await sign({ sub: 'kim' }) });
    c.connect();
    const without = c.newSubscription('chat:$secret');
    const denied = waitEvent<Ctx>(without, 'unsubscribed');
    without.subscribe();
    assert.equal((await denied).code, ERRORS.permissionDenied.code);
    c.removeSubscription(without);

    let calls = 0;
    const withToken = c.newSubscription('chat:$secret', {
      token: await sign({ sub: 'kim', channel: 'chat:$secret', exp: Math.floor(Date.now() / 1000) - 5 }),
      getToken: async () => {
        calls++;
        return sign({ sub: 'kim', channel: 'chat:$secret', info: { role: 'member' } }, { expSeconds: 600 });
      },
    });
    const errors = collect<{ error: { code: number } }>(withToken, 'error');
    withToken.subscribe();
    await subscribed(withToken);
    assert.equal(calls, 1);
    assert.ok(errors.some((e) => e.error.code === ERRORS.tokenExpired.code));
    const presence = await server.node.presence('chat:$secret');
    assert.deepEqual(Object.values(presence)[0]?.chanInfo, { role: 'member' });

    // A token for another user is an attack: the connection is closed with 3500.
    const other = server.client({ token: await sign({ sub: 'lee' }) });
    const stolen = other.newSubscription('chat:$secret', { token: await sign({ sub: 'kim', channel: 'chat:$secret' }) });
    stolen.subscribe();
    const disconnected = waitEvent<Ctx>(other, 'disconnected');
    other.connect();
    assert.equal((await disconnected).code, DISCONNECTS.invalidToken.code);
  });

  it('a subscription token with ttl is refreshed with sub_refresh', async () => {
    await start({ tuning: { expiredCloseDelayMs: 2000 } });
    const c = server.client({ token: await sign({ sub: 'max' }) });
    let calls = 0;
    const s = c.newSubscription('chat:$ttl', {
      getToken: async () => {
        calls++;
        return sign({ sub: 'max', channel: 'chat:$ttl' }, { expSeconds: calls === 1 ? 2 : 600 });
      },
    });
    s.subscribe();
    c.connect();
    await subscribed(s);
    const [session] = server.node.userConnections('max');
    const sub = session!.subs.get('chat:$ttl')!;
    await waitUntil(async () => sub.expireAt > Date.now() / 1000 + 300, { timeoutMs: 6000, what: 'sub refresh' });
    assert.equal(calls, 2);
    assert.equal(s.state, 'subscribed');
  });

  it('owner credentials (a non-JWT session token through the credentials hook) reach owner-only namespaces', async () => {
    await start({ credentials: async (token) => (token === 'owner-session-token' ? { user: 'owner', owner: true } : null) });
    const owner = server.client({ token: 'owner-session-token' });
    const s = owner.newSubscription('admin:ops');
    s.subscribe();
    owner.connect();
    await subscribed(s);
    const user = server.client({ token: await sign({ sub: 'nat' }) });
    const denied = user.newSubscription('admin:ops');
    const code = waitEvent<Ctx>(denied, 'unsubscribed');
    denied.subscribe();
    user.connect();
    assert.equal((await code).code, ERRORS.permissionDenied.code);
    const bad = server.client({ token: 'unknown-session-token' });
    const closed = waitEvent<Ctx>(bad, 'disconnected');
    bad.connect();
    assert.equal((await closed).code, DISCONNECTS.invalidToken.code);
  });

  it('malformed frames, unknown methods, wrong types and early commands close with 3501; the server stays up', async () => {
    await start({ realtime: { maxMessageBytes: 2048 } });
    const token = await sign({ sub: 'olga' });
    const cases: Array<{ name: string; frames: string[]; code: number }> = [
      { name: 'bad JSON', frames: [JSON.stringify({ id: 1, connect: { token } }), '{"id":2,"subscribe":'], code: 3501 },
      { name: 'not an object', frames: [JSON.stringify({ id: 1, connect: { token } }), '[1,2,3]'], code: 3501 },
      { name: 'unknown method', frames: [JSON.stringify({ id: 1, connect: { token } }), '{"id":2,"teleport":{}}'], code: 3501 },
      { name: 'ping method', frames: [JSON.stringify({ id: 1, connect: { token } }), '{"id":2,"ping":{}}'], code: 3501 },
      { name: 'wrong type', frames: [JSON.stringify({ id: 1, connect: { token } }), '{"id":2,"subscribe":{"channel":5}}'], code: 3501 },
      { name: 'negative id', frames: ['{"id":-1,"connect":{}}'], code: 3501 },
      { name: 'before connect', frames: ['{"id":1,"subscribe":{"channel":"chat:a"}}'], code: 3501 },
      { name: 'pong without ping', frames: [JSON.stringify({ id: 1, connect: { token } }), '{}'], code: 3501 },
      { name: 'second connect', frames: [JSON.stringify({ id: 1, connect: { token } }), JSON.stringify({ id: 2, connect: { token } })], code: 3501 },
      { name: 'too big', frames: [JSON.stringify({ id: 1, connect: { token } }), JSON.stringify({ id: 2, publish: { channel: 'chat:a', data: 'x'.repeat(4096) } })], code: 1009 },
    ];
    for (const tc of cases) {
      const raw = await server.raw();
      for (const f of tc.frames) raw.send(f);
      const closed = await raw.waitClose();
      assert.equal(closed.code, tc.code, tc.name);
    }
    // Commands before the bad line of a frame still run.
    const raw = await server.raw();
    raw.send(`${JSON.stringify({ id: 1, connect: { token } })}\n\n${JSON.stringify({ id: 2, subscribe: { channel: 'chat:a' } })}\nnot json`);
    assert.ok((await raw.reply(2)).subscribe);
    assert.equal((await raw.waitClose()).code, 3501);
    // The server still serves.
    const c = server.client({ token });
    c.connect();
    await connected(c);
  });

  it('stale connections that never connect are closed with 3502', async () => {
    await start({ tuning: { staleMs: 200 } });
    const raw = await server.raw();
    assert.equal((await raw.waitClose()).code, DISCONNECTS.stale.code);
  });

  it('max subscriptions per connection → 106', async () => {
    await start({ realtime: { maxSubscriptionsPerConnection: 2 } });
    const c = server.client({ token: await sign({ sub: 'pia' }) });
    const subs = ['chat:1', 'chat:2', 'chat:3'].map((ch) => c.newSubscription(ch));
    const third = waitEvent<Ctx>(subs[2]!, 'unsubscribed');
    for (const s of subs) s.subscribe();
    c.connect();
    await Promise.all([subscribed(subs[0]!), subscribed(subs[1]!)]);
    assert.equal((await third).code, ERRORS.limitExceeded.code);
  });

  it('commands over the rate limit get 111, far over it the connection is closed with 3013', async () => {
    // Burst room = rate + max subscriptions = 6 commands.
    await start({ realtime: { maxCommandsPerSecond: 5, maxSubscriptionsPerConnection: 1 } });
    const raw = await server.raw();
    const cmds: object[] = [{ id: 1, connect: { token: await sign({ sub: 'quinn' }) } }];
    for (let i = 2; i <= 7; i++) cmds.push({ id: i, presence_stats: { channel: 'chat:a' } });
    raw.sendBatch(cmds);
    assert.ok((await raw.reply(6)).presence_stats);
    assert.equal(((await raw.reply(7)).error as { code: number; temporary: boolean }).code, ERRORS.tooManyRequests.code);
    const more: object[] = [];
    for (let i = 8; i <= 20; i++) more.push({ id: i, presence_stats: { channel: 'chat:a' } });
    raw.sendBatch(more);
    assert.equal((await raw.waitClose()).code, DISCONNECTS.tooManyRequests.code);
  });

  it('the default limits let a reconnect resubscribe all its subscriptions at once', async () => {
    await start({ realtime: { maxSubscriptionsPerConnection: 128 } });
    const raw = await server.raw();
    const cmds: object[] = [{ id: 1, connect: { token: await sign({ sub: 'rosa' }) } }];
    for (let i = 0; i < 128; i++) cmds.push({ id: i + 2, subscribe: { channel: `chat:r${i}` } });
    raw.sendBatch(cmds);
    await raw.reply(129);
    assert.ok(raw.received.filter((m) => m.subscribe).length === 128, 'every subscribe succeeded');
  });

  it('a slow consumer (a socket that does not read) is disconnected with 3008 and its queue stays bounded', async () => {
    await start({ realtime: { maxQueuedBytes: 256 * 1024 } });
    const raw = await server.raw();
    raw.sendBatch([
      { id: 1, connect: { token: await sign({ sub: 'ron' }) } },
      { id: 2, subscribe: { channel: 'nohist:firehose' } },
    ]);
    await raw.reply(2);
    const [session] = server.node.userConnections('ron');
    const closed = new Promise<number>((resolve) => server.node.on('disconnect', (s, code) => s === session && resolve(code)));
    // Stop reading: the kernel buffers fill, then the server's send queue grows.
    (raw.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const payload = 'y'.repeat(64 * 1024);
    let maxBuffered = 0;
    let published = 0;
    for (let i = 0; i < 2000 && !session!.isClosed(); i++) {
      await server.node.publish('nohist:firehose', payload);
      published++;
      await new Promise((resolve) => setImmediate(resolve));
      if (!session!.isClosed()) maxBuffered = Math.max(maxBuffered, session!.transport.bufferedBytes());
    }
    assert.equal(await closed, DISCONNECTS.slow.code);
    assert.ok(maxBuffered <= 256 * 1024 + 2 * 65 * 1024, `queue stayed bounded (max ${maxBuffered} bytes after ${published} publications)`);
    assert.equal(server.node.metrics.drops.slow, 1);
    (raw.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    assert.equal((await raw.waitClose(10_000)).code, DISCONNECTS.slow.code);
  });

  it('graceful shutdown disconnects clients with 3001; they reconnect to the restarted node and resubscribe', async () => {
    await start();
    const c = server.client({ token: await sign({ sub: 'sam' }) });
    const s = c.newSubscription('chat:restart');
    s.subscribe();
    c.connect();
    await subscribed(s);
    const reconnecting = waitEvent<Ctx>(c, 'connecting', (ctx) => ctx.code === DISCONNECTS.shutdown.code);
    const resubscribed = waitEvent(s, 'subscribed', () => true, 8000);
    const node = await server.restartNode();
    await reconnecting;
    await resubscribed;
    assert.equal(node.userConnections('sam').length, 1);
  });

  it('7. recovery on the wire: recovered result shape; flag & 2 turns an unrecoverable position into 112', async () => {
    await start();
    const token = await sign({ sub: 'tess' });
    for (let n = 1; n <= 3; n++) await server.node.publish('chat:wire', { n });
    const { epoch } = (await server.node.history('chat:wire', { limit: 0 })).position;
    const raw = await server.raw();
    raw.sendBatch([
      { id: 1, connect: { token } },
      { id: 2, subscribe: { channel: 'chat:wire', recover: true, offset: 1, epoch, flag: 1 } },
      { id: 3, subscribe: { channel: 'chat:bad', recover: true, offset: 1, epoch: 'nope', flag: 1 } },
      { id: 4, subscribe: { channel: 'chat:strict', recover: true, offset: 1, epoch: 'nope', flag: 3 } },
    ]);
    const ok = (await raw.reply(2)).subscribe as Record<string, unknown>;
    assert.deepEqual(
      { recovered: ok.recovered, was: ok.was_recovering, offset: ok.offset, epoch: ok.epoch, offsets: (ok.publications as Array<{ offset: number }>).map((p) => p.offset) },
      { recovered: true, was: true, offset: 1, epoch, offsets: [2, 3] },
    );
    const failed = (await raw.reply(3)).subscribe as Record<string, unknown>;
    assert.equal(failed.recovered, undefined);
    assert.equal(failed.was_recovering, true);
    assert.equal(failed.publications, undefined);
    assert.equal(((await raw.reply(4)).error as { code: number }).code, ERRORS.unrecoverablePosition.code);
  });

  it('after a Bus reconnect, subscribers behind the stream get 2500 and recover what they missed', async () => {
    await start();
    const c = server.client({ token: await sign({ sub: 'uma' }) });
    const s = c.newSubscription('chat:bus');
    const pubs = collect<{ data: unknown; offset: number }>(s, 'publication');
    s.subscribe();
    c.connect();
    await subscribed(s);
    await server.node.publish('chat:bus', { n: 1 });
    await waitUntilEvent(s, 'publication', () => pubs.length === 1);
    // Appended to the stream but never fanned out: what a Bus outage loses.
    const streams = (backend.bus as unknown as { streams: { append: Function } }).streams;
    streams.append('chat:bus', { offset: 0, data: { n: 2 }, time: Date.now() }, { size: 100, ttlSeconds: 300, metaTtlSeconds: 3600 });
    const resubscribing = waitEvent<Ctx>(s, 'subscribing', (ctx) => ctx.code === UNSUBSCRIBES.insufficientState.code);
    await server.node.hub.handleReconnect();
    await resubscribing;
    await waitUntilEvent(s, 'publication', () => pubs.length === 2);
    assert.deepEqual(pubs.map((p) => p.offset), [1, 2]);
  });

  it('node info, channels and metrics reflect connections', async () => {
    await start();
    const c = server.client({ token: await sign({ sub: 'vic' }) });
    const s = c.newSubscription('chat:metrics');
    s.subscribe();
    c.connect();
    await subscribed(s);
    assert.deepEqual(server.node.channels('chat:*'), { 'chat:metrics': { numClients: 1 } });
    assert.deepEqual(server.node.channels('other*'), {});
    const info = server.node.info().nodes[0]!;
    assert.deepEqual([info.numClients, info.numUsers, info.numChannels, info.numSubs], [1, 1, 1, 1]);
    const text = await server.registry.metrics();
    assert.match(text, /mycel_realtime_connections 1/);
    assert.match(text, /mycel_realtime_subscriptions 1/);
    assert.match(text, /mycel_realtime_messages_out_total \d+/);
    assert.match(text, /mycel_realtime_messages_in_total [1-9]/);
  });

  it('presence entries are kept alive by the heartbeat beyond their TTL', async () => {
    await start({ realtime: { presenceTtlSeconds: 5 } });
    const c = server.client({ token: await sign({ sub: 'wade' }) });
    const s = c.newSubscription('chat:alive');
    s.subscribe();
    c.connect();
    await subscribed(s);
    const since = Date.now();
    // A clock condition: the entry must outlive its 5 s TTL (refreshed every ~1.7 s).
    await waitUntil(async () => Date.now() - since > 6500, { timeoutMs: 8000, intervalMs: 500, what: 'TTL to pass' });
    assert.equal((await server.node.presenceStats('chat:alive')).numClients, 1);
  });

  it('refreshUser moves a connection\'s expiry or expires it (3005, the client reconnects)', async () => {
    await start();
    const c = server.client({ token: await sign({ sub: 'xena' }) });
    c.connect();
    await connected(c);
    const [session] = server.node.userConnections('xena');
    const expireAt = Math.floor(Date.now() / 1000) + 3600;
    await server.node.refreshUser('xena', { expireAt });
    await waitUntil(async () => session!.expireAt === expireAt, { what: 'expiry update' });
    const reconnecting = waitEvent<Ctx>(c, 'connecting', (ctx) => ctx.code === DISCONNECTS.expired.code);
    await server.node.refreshUser('xena', { expired: true });
    await reconnecting;
  });

  it('server-side subscriptions recover on reconnect with the positions the client sends in connect', async () => {
    await start();
    const c = server.client({ token: await sign({ sub: 'yuri', channels: ['chat:srvrec'] }) });
    const pubs = collect<{ channel: string; offset: number }>(c, 'publication');
    const subs = collect<{ channel: string; recovered: boolean; wasRecovering: boolean }>(c, 'subscribed');
    c.connect();
    await waitUntilEvent(c, 'subscribed', () => subs.length === 1);
    await server.node.publish('chat:srvrec', { n: 1 });
    await waitUntilEvent(c, 'publication', () => pubs.length === 1);
    const gone = waitEvent(c, 'disconnected');
    c.disconnect();
    await gone;
    await server.node.publish('chat:srvrec', { n: 2 });
    await server.node.publish('chat:srvrec', { n: 3 });
    c.connect();
    await waitUntilEvent(c, 'publication', () => pubs.length === 3);
    assert.deepEqual(pubs.map((p) => p.offset), [1, 2, 3]);
    assert.equal(subs[1]?.wasRecovering, true);
    assert.equal(subs[1]?.recovered, true);
  });
});

/** Fault injection: the memory Bus whose first `failures` subscribe calls fail (a Redis outage, in effect). */
class FlakyBus implements Bus {
  failed = 0;
  constructor(
    private readonly inner: Bus,
    private failures: number,
  ) {}
  publish(channel: string, message: BusMessage, history?: HistoryOptions): Promise<StreamPosition | null> {
    return this.inner.publish(channel, message, history);
  }
  async subscribe(channel: string): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      this.failed++;
      throw new Error('injected bus failure');
    }
    return this.inner.subscribe(channel);
  }
  unsubscribe(channel: string): Promise<void> {
    return this.inner.unsubscribe(channel);
  }
  publishControl(command: ControlCommand): Promise<void> {
    return this.inner.publishControl(command);
  }
  setHandler(handler: BusHandler): void {
    this.inner.setHandler(handler);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
