/**
 * The Redis back-ends at the edges of an outage, each test on its OWN redis-server (never the
 * shared one): Redis stopped with SIGSTOP (a publish must not be delivered after its caller
 * was told it failed), Redis restarted (a publish must not be acknowledged before this
 * instance listens again), Redis down from the start (calls fail at once, readiness says so),
 * and what the log says about an outage.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { after, afterEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { isMycelError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import { createRealtimeBackends, type RealtimeBackends } from '../../src/realtime/backends.js';
import { RedisBus } from '../../src/realtime/redis/redis-bus.js';
import type { RedisBackendOptions } from '../../src/realtime/redis/redis-connection.js';
import { RedisHistoryStore } from '../../src/realtime/redis/redis-history-store.js';
import { RedisPresenceStore } from '../../src/realtime/redis/redis-presence-store.js';
import type { BusMessage, HistoryOptions } from '../../src/realtime/types.js';
import { BusRecorder, waitUntil } from '../helpers/realtime-backends.js';
import { freePort, RedisServer } from '../helpers/redis-server.js';
import { storageBackends } from '../helpers/storage.js';
import { startHarness } from './http-harness.js';
import { sign, startRealtime } from './realtime-harness.js';

const HISTORY: HistoryOptions = { size: 100, ttlSeconds: 60, metaTtlSeconds: 300 };
const COMMAND_TIMEOUT_MS = 1_000;

function pub(data: unknown): BusMessage {
  return { type: 'pub', publication: { offset: 0, data } };
}

function isUnavailable(err: unknown): boolean {
  return isMycelError(err) && err.code === 'REDIS_UNAVAILABLE';
}

/** Retries `call` while it fails with REDIS_UNAVAILABLE (Redis coming back), bounded. */
async function once<T>(call: () => Promise<T>, what: string): Promise<T> {
  return waitUntil(
    async () => {
      try {
        return { value: await call() };
      } catch (err) {
        if (isUnavailable(err)) return undefined;
        throw err;
      }
    },
    { timeoutMs: 10_000, intervalMs: 20, what },
  ).then((r) => r.value);
}

async function elapsed(call: () => Promise<unknown>): Promise<{ ms: number; error: unknown }> {
  const started = Date.now();
  try {
    await call();
    return { ms: Date.now() - started, error: undefined };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

describe('Redis back-ends at the edges of an outage', () => {
  const servers: RedisServer[] = [];
  const closers: Array<() => Promise<void>> = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);

  async function server(options: { password?: string } = {}): Promise<RedisServer> {
    const s = await RedisServer.start(undefined, options);
    servers.push(s);
    return s;
  }

  function busOptions(url: string, prefix: string): RedisBackendOptions {
    return { url, prefix, commandTimeoutMs: COMMAND_TIMEOUT_MS, connectTimeoutMs: 5_000, maxReconnectDelayMs: 100, pingIntervalMs: 0 };
  }

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    for (const s of servers.splice(0)) {
      if (s.child) s.resume();
      await s.kill();
    }
  });
  after(() => {
    process.off('unhandledRejection', onUnhandled);
    assert.deepEqual(unhandled, []);
  });

  it('a publish sent while Redis is stopped fails within the command timeout and is never delivered or stored after Redis resumes', async () => {
    const redis = await server();
    // The subscriber's PING finds the stopped Redis too: it reconnects into a handshake that
    // hangs until SIGCONT, and must come back by itself.
    const bus = new RedisBus({ ...busOptions(redis.url, 'pause'), pingIntervalMs: 300 });
    closers.push(() => bus.close());
    const history = new RedisHistoryStore(bus);
    const rec = new BusRecorder();
    bus.setHandler(rec);
    await bus.subscribe('chat:p');
    // A plain subscriber that keeps its socket across the pause sees every message Redis sends.
    const watcher = new Redis(redis.url);
    closers.push(async () => watcher.disconnect());
    const seen: string[] = [];
    watcher.on('pmessage', (_pattern: string, _key: string, text: string) => seen.push(text));
    await watcher.psubscribe('pause.channel.*');

    await bus.publish('chat:p', pub('before'), HISTORY);
    await rec.waitFor(() => rec.pubs('chat:p').length === 1, 5_000, 'the first publication');

    redis.pause();
    // Both kinds of publish are written to the socket, then time out: the caller is told they failed.
    const [withHistory, plain] = await Promise.all([
      elapsed(() => bus.publish('chat:p', pub('late-history'), HISTORY)),
      elapsed(() => bus.publish('chat:p', pub('late-plain'))),
    ]);
    for (const { ms, error } of [withHistory, plain]) {
      assert.ok(isUnavailable(error), `expected REDIS_UNAVAILABLE, got ${String(error)}`);
      assert.ok(ms >= COMMAND_TIMEOUT_MS - 50 && ms < COMMAND_TIMEOUT_MS + 500, `failed after ${ms} ms`);
    }
    // The connection is known to be unwell: the next call does not wait for another timeout.
    const next = await elapsed(() => bus.publish('chat:p', pub('refused')));
    assert.ok(isUnavailable(next.error), String(next.error));
    assert.ok(next.ms < 100, `the next publish took ${next.ms} ms`);
    assert.deepEqual(bus.commands.health.check().ready, false);
    await waitUntil(async () => !bus.subscriber.isUp, { what: 'the subscriber to notice the stopped Redis' });

    redis.resume();
    // Same connection, so Redis ran the late publishes before this one: they had their chance.
    const position = await once(() => bus.publish('chat:p', pub('after'), HISTORY), 'a publish after SIGCONT');
    await rec.waitFor(() => rec.pubs('chat:p').some((p) => p.data === 'after'), 5_000, 'the publication after SIGCONT');
    await waitUntil(async () => seen.some((text) => text.includes('"after"')), { what: 'the watcher to see it' });
    assert.deepEqual(
      rec.pubs('chat:p').map((p) => p.data),
      ['before', 'after'],
    );
    assert.deepEqual(
      seen.filter((text) => text.includes('late')),
      [],
    );
    assert.equal(position?.offset, 2, 'the refused publish took no offset');
    const h = await history.history('chat:p', { limit: -1, metaTtlSeconds: 300 });
    assert.deepEqual(
      h.publications.map((p) => [p.offset, p.data]),
      [
        [1, 'before'],
        [2, 'after'],
      ],
    );
    assert.deepEqual(bus.commands.health.check(), { ready: true });
  });

  it('a clock step on this host makes no publish fail: a refusal that comes back at once re-reads Redis\'s clock and the publish happens once', async () => {
    const redis = await server();
    // This host's clock is stepped (it cannot be stepped for real in a test): deadlines are
    // counted on it from the reading of Redis's clock taken at connection time.
    const realNow = performance.now.bind(performance);
    let stepMs = 3_600_000;
    performance.now = () => realNow() + stepMs;
    try {
      const bus = new RedisBus(busOptions(redis.url, 'clock'));
      closers.push(() => bus.close());
      const history = new RedisHistoryStore(bus);
      const rec = new BusRecorder();
      bus.setHandler(rec);
      await bus.subscribe('chat:k');
      await bus.publish('chat:k', pub('skewed at connect'), HISTORY);
      assert.equal(bus.stats.clockResyncs, 0, 'a skew present at connection time is measured, not refused');

      // One hour back: every deadline computed from the old reading is an hour in the past.
      stepMs = 0;
      const position = await bus.publish('chat:k', pub('after the step'), HISTORY);
      await bus.publish('chat:k', pub('plain after the step'));
      assert.equal(bus.stats.clockResyncs, 1);
      assert.equal(position?.offset, 2);
      await rec.waitFor(() => rec.pubs('chat:k').length === 3, 5_000, 'three publications');
      assert.deepEqual(
        rec.pubs('chat:k').map((p) => p.data),
        ['skewed at connect', 'after the step', 'plain after the step'],
      );
      const h = await history.history('chat:k', { limit: -1, metaTtlSeconds: 300 });
      assert.deepEqual(
        h.publications.map((p) => p.data),
        ['skewed at connect', 'after the step'],
      );
    } finally {
      performance.now = realNow;
    }
  });

  it('after each of four Redis restarts, every acknowledged publish reaches the subscriber of the publishing instance', async () => {
    const redis = await server();
    const bus = new RedisBus(busOptions(redis.url, 'window'));
    closers.push(() => bus.close());
    const rec = new BusRecorder();
    bus.setHandler(rec);
    await bus.subscribe('chat:w');

    for (let round = 0; round < 4; round++) {
      await redis.kill();
      await waitUntil(async () => !bus.commands.isUp && !bus.subscriber.isUp, { what: 'the outage to be noticed' });
      // Publish as fast as the answers come (1 ms apart when refused) across the restart.
      const acked: string[] = [];
      let stop = false;
      const publishing = (async () => {
        for (let n = 0; !stop; n++) {
          const data = `${round}-${n}`;
          try {
            await bus.publish('chat:w', pub(data), n % 2 === 0 ? HISTORY : undefined);
            acked.push(data);
          } catch (err) {
            if (!isUnavailable(err)) throw err;
            await new Promise((resolve) => setTimeout(resolve, 1));
          }
        }
      })();
      try {
        await redis.restart();
        await waitUntil(async () => acked.length >= 20, { timeoutMs: 10_000, intervalMs: 5, what: `twenty acks after restart ${round + 1}` });
      } finally {
        stop = true;
        await publishing;
      }
      const received = (): Set<unknown> => new Set(rec.pubs('chat:w').map((p) => p.data));
      await rec
        .waitFor(() => acked.every((data) => received().has(data)), 3_000, 'every acknowledged publication')
        .catch(() => undefined);
      assert.deepEqual(
        acked.filter((data) => !received().has(data)),
        [],
        `restart ${round + 1}: acknowledged but never received`,
      );
    }
  });

  it('while only the subscriber connection is lost and re-subscribing, publishes are refused, never acknowledged unheard', async () => {
    const redis = await server();
    const bus = new RedisBus(busOptions(redis.url, 'resub'));
    closers.push(() => bus.close());
    const rec = new BusRecorder();
    bus.setHandler(rec);
    await bus.subscribe('chat:s');
    const admin = new Redis(redis.url);
    closers.push(async () => admin.disconnect());

    await admin.client('KILL', 'TYPE', 'pubsub');
    // Until the socket's close reaches this process nobody here can know (the limit of any
    // local check); from then on nothing may be acknowledged until the subscriber is back.
    await waitUntil(async () => !bus.subscriber.isUp, { intervalMs: 1, what: 'the subscriber to notice' });
    // The command connection stays up the whole time; the subscriber needs a reconnect delay,
    // a handshake and a SUBSCRIBE before it hears anything again.
    const acked: number[] = [];
    let refused = 0;
    for (let n = 0; rec.reconnects === 0; n++) {
      try {
        await bus.publish('chat:s', pub(n), n % 2 === 0 ? HISTORY : undefined);
        acked.push(n);
      } catch (err) {
        if (!isUnavailable(err)) throw err;
        refused++;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.ok(refused > 0, 'publishes were refused while the subscriber was away');
    const received = (): Set<unknown> => new Set(rec.pubs('chat:s').map((p) => p.data));
    await rec.waitFor(() => acked.every((n) => received().has(n)), 3_000, 'every acknowledged publication').catch(() => undefined);
    assert.deepEqual(
      acked.filter((n) => !received().has(n)),
      [],
      'acknowledged but never received',
    );
  });

  it('with Redis down from the start, every call fails at once; once Redis starts, everything works', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    // The default connect timeout (10 s) is what a call used to wait before failing.
    const options: RedisBackendOptions = { url, prefix: 'cold', maxReconnectDelayMs: 100 };
    const bus = new RedisBus(options);
    const presence = new RedisPresenceStore({ ...options, health: bus.commands.health });
    closers.push(() => bus.close(), () => presence.close());
    const history = new RedisHistoryStore(bus);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['publish with history', () => bus.publish('chat:c', pub(1), HISTORY)],
      ['publish', () => bus.publish('chat:c', pub(1))],
      ['publishControl', () => bus.publishControl({ type: 'refresh', user: 'u1' })],
      ['subscribe', () => bus.subscribe('chat:c')],
      ['history', () => history.history('chat:c', { limit: -1, metaTtlSeconds: 300 })],
      ['presence.add', () => presence.add('chat:c', { user: 'u1', client: 'c1' }, 60)],
    ];
    for (const [name, call] of calls) {
      const { ms, error } = await elapsed(call);
      assert.ok(isUnavailable(error), `${name}: ${String(error)}`);
      assert.ok(ms < 1_000, `${name} took ${ms} ms`);
    }
    const state = bus.commands.health.check();
    assert.equal(state.ready, false);
    assert.match(state.ready ? '' : state.reason, /^Redis is unavailable/);
    assert.doesNotMatch(state.ready ? '' : state.reason, new RegExp(String(port)), 'the public reason names no address');

    const redis = await RedisServer.start(port);
    servers.push(redis);
    const rec = new BusRecorder();
    bus.setHandler(rec);
    await once(() => bus.subscribe('chat:c'), 'subscribe once Redis is up');
    await once(() => bus.publish('chat:c', pub('up'), HISTORY), 'publish once Redis is up');
    await rec.waitFor(() => rec.pubs('chat:c').length === 1, 5_000, 'delivery');
    await once(() => presence.add('chat:c', { user: 'u1', client: 'c1' }, 60), 'presence once Redis is up');
    assert.deepEqual(bus.commands.health.check(), { ready: true });
  });

  it('a client is answered at once with 100 "realtime back-end unavailable" (temporary) while Redis is down', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const backends = createRealtimeBackends({ redisUrl: url, nodeId: 'n2', log: createLogger({ level: 'silent' }) });
    const server = await startRealtime({ backend: { bus: backends.bus, history: backends.history, presence: backends.presence, cleanup: () => backends.close() } });
    closers.push(() => backends.close(), () => server.close());
    const raw = await server.raw();
    raw.send({ id: 1, connect: { token: await sign({ sub: 'u1' }) } });
    assert.ok((await raw.reply(1)).connect, 'connect needs no Redis');
    const commands = [
      { id: 2, subscribe: { channel: 'chat:down' } },
      { id: 3, publish: { channel: 'chat:down', data: { n: 1 } } },
      { id: 4, history: { channel: 'chat:down', limit: 10 } },
      { id: 5, presence: { channel: 'chat:down' } },
    ];
    const started = Date.now();
    raw.sendBatch(commands);
    for (const { id } of commands) {
      assert.deepEqual((await raw.reply(id, 2_000)).error, { code: 100, message: 'realtime back-end unavailable', temporary: true }, `command ${id}`);
    }
    assert.ok(Date.now() - started < 1_000, `the replies took ${Date.now() - started} ms`);
  });

  it('an outage is logged once, naming Redis without its password and what stops; its end once; /readyz follows it', async () => {
    const password = 'hunter2-secret';
    const redis = await server({ password });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(line);
        done();
      },
    });
    const log = createLogger({ level: 'debug', destination: sink });
    const backends: RealtimeBackends = createRealtimeBackends({ redisUrl: redis.url, nodeId: 'n1', log });
    closers.push(() => backends.close());
    const bus = backends.bus as RedisBus;
    const presence = backends.presence as RedisPresenceStore;
    const http = await startHarness(storageBackends[0]!, { readinessChecks: backends.readiness });
    closers.push(() => http.close());
    const readyz = async (): Promise<{ status: number; body: { status?: string; error?: { code: string; details: Record<string, unknown> } } }> => {
      const res = await http.app.inject({ url: '/readyz' });
      return { status: res.statusCode, body: res.json() };
    };
    await once(() => bus.publish('chat:l', pub(1)), 'the first publish');
    await waitUntil(async () => presence.connection.isUp, { what: 'presence up' });
    assert.deepEqual(await readyz(), { status: 200, body: { status: 'ready' } });

    const from = lines.length;
    await redis.kill();
    // Many reconnect attempts fail meanwhile; the log must not grow with them.
    const attempts = (): number => bus.commands.stats.errors + bus.subscriber.stats.errors + presence.connection.stats.errors;
    await waitUntil(async () => attempts() >= 15, { timeoutMs: 10_000, what: 'fifteen failed reconnect attempts' });
    for (let i = 0; i < 5; i++) await assert.rejects(bus.publish('chat:l', pub(i)), { code: 'REDIS_UNAVAILABLE' });
    const notReady = await readyz();
    assert.equal(notReady.status, 503);
    assert.equal(notReady.body.error!.code, 'NOT_READY');
    assert.equal(notReady.body.error!.details.check, 'redis');
    assert.match(String(notReady.body.error!.details.reason), /^Redis is unavailable/);

    const outage = lines.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>);
    const warnings = outage.filter((l) => (l.level as number) >= 40);
    assert.equal(warnings.length, 1, `one line for the outage, got ${JSON.stringify(warnings)}`);
    const [down] = warnings;
    assert.equal(down!.level, 50);
    assert.match(String(down!.msg), /^Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ is unavailable \(.+\): realtime publish, subscribe, presence and history fail/);
    assert.equal(down!.redis, `redis://:***@127.0.0.1:${redis.port}`);
    for (const line of lines) {
      assert.ok(!line.includes(password), `the password in a log line: ${line}`);
      assert.ok(!line.includes('"stack"'), `a stack trace in a log line: ${line}`);
    }

    const before = lines.length;
    await redis.restart();
    await once(() => bus.publish('chat:l', pub('back')), 'a publish after the restart');
    await waitUntil(async () => presence.connection.isUp, { what: 'presence up again' });
    assert.deepEqual(await readyz(), { status: 200, body: { status: 'ready' } });
    const recovery = lines.slice(before).map((line) => JSON.parse(line) as { level: number; msg: string; downMs?: number; failedAttempts?: number });
    const back = recovery.filter((l) => l.level >= 30);
    assert.equal(back.length, 1, `one line for the recovery, got ${JSON.stringify(back)}`);
    assert.match(back[0]!.msg, /^Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ is available again/);
    assert.ok(back[0]!.failedAttempts! >= 10 && back[0]!.downMs! > 0, JSON.stringify(back[0]));
  });
});
