/**
 * The Redis back-ends when Redis goes away: this file starts its OWN redis-server (never the
 * shared one), kills it with SIGKILL while publishes are in flight, and starts it again on
 * the same port without persistence, so Redis comes back empty.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { isMycelError } from '../../src/errors.js';
import { RedisBus } from '../../src/realtime/redis/redis-bus.js';
import { RedisHistoryStore } from '../../src/realtime/redis/redis-history-store.js';
import { RedisPresenceStore } from '../../src/realtime/redis/redis-presence-store.js';
import type { RedisBackendOptions } from '../../src/realtime/redis/redis-connection.js';
import type { BusMessage, HistoryOptions, StreamPosition } from '../../src/realtime/types.js';
import { BusRecorder, waitUntil } from '../helpers/realtime-backends.js';
import { RedisServer } from '../helpers/redis-server.js';

const HISTORY: HistoryOptions = { size: 1000, ttlSeconds: 60, metaTtlSeconds: 300 };
const COMMAND_TIMEOUT_MS = 1_000;

function pub(data: unknown): BusMessage {
  return { type: 'pub', publication: { offset: 0, data } };
}

describe('Redis back-ends across a Redis restart', () => {
  let redis: RedisServer | undefined;
  let options: RedisBackendOptions;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    redis = await RedisServer.start();
    options = {
      url: redis.url,
      prefix: 'restart',
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      connectTimeoutMs: 5_000,
      maxReconnectDelayMs: 200,
      pingIntervalMs: 500,
    };
  });

  after(async () => {
    for (const close of closers.reverse()) await close();
    await redis?.kill();
    process.off('unhandledRejection', onUnhandled);
  });

  it('a dropped subscriber connection comes back by itself and calls onReconnect; the epoch stays', async () => {
    const bus = new RedisBus(options);
    closers.push(() => bus.close());
    const history = new RedisHistoryStore(bus);
    const rec = new BusRecorder();
    bus.setHandler(rec);
    await bus.subscribe('chat:drop');
    const first = await bus.publish('chat:drop', pub(1), HISTORY);

    const admin = new Redis(options.url, { maxRetriesPerRequest: 1 });
    try {
      await admin.client('KILL', 'TYPE', 'pubsub');
    } finally {
      admin.disconnect();
    }
    await rec.waitFor(() => rec.reconnects === 1, 10_000, 'onReconnect');
    const second = await bus.publish('chat:drop', pub(2), HISTORY);
    assert.deepEqual(second, { offset: 2, epoch: first!.epoch });
    await rec.waitFor(() => rec.pubs('chat:drop').some((p) => p.data === 2), 5_000, 'delivery after reconnect');
    const h = await history.history('chat:drop', { limit: -1, metaTtlSeconds: 300 });
    assert.deepEqual(
      h.publications.map((p) => p.data),
      [1, 2],
    );
  });

  it('survives SIGKILL under load: calls reject during the outage, then everything works again with a new epoch', async () => {
    const bus = new RedisBus(options);
    const peer = new RedisBus(options);
    const presence = new RedisPresenceStore(options);
    closers.push(() => bus.close(), () => peer.close(), () => presence.close());
    const history = new RedisHistoryStore(bus);
    const rec = new BusRecorder();
    const peerRec = new BusRecorder();
    bus.setHandler(rec);
    peer.setHandler(peerRec);
    await bus.subscribe('chat:r');
    await peer.subscribe('chat:r');

    let before: StreamPosition | null = null;
    for (let i = 0; i < 3; i++) before = await bus.publish('chat:r', pub(`before${i}`), HISTORY);
    await presence.add('chat:r', { user: 'u1', client: 'c1' }, 60);
    await peerRec.waitFor(() => peerRec.pubs('chat:r').length === 3, 5_000, 'three pubs on the peer');
    const oldEpoch = before!.epoch;

    // Ten publishers keep publishes in flight; Redis dies under them. Every publish must
    // settle, as a real position or an error; each publisher stops at its first error.
    const results: Array<{ position?: StreamPosition | null; error?: unknown }> = [];
    const publisher = async (w: number): Promise<void> => {
      for (let i = 0; i < 100_000; i++) {
        try {
          results.push({ position: await peer.publish('chat:r', pub(`w${w}-${i}`), HISTORY) });
        } catch (error) {
          results.push({ error });
          return;
        }
      }
    };
    const publishers = Array.from({ length: 10 }, (_, w) => publisher(w));
    await waitUntil(async () => results.length >= 200, { timeoutMs: 10_000, intervalMs: 5, what: '200 publishes before the kill' });
    await redis!.kill();
    const settleStarted = Date.now();
    await Promise.all(publishers);
    assert.ok(Date.now() - settleStarted < COMMAND_TIMEOUT_MS + 2_000, 'in-flight publishes took too long to settle');
    const failures = results.filter((r) => r.error !== undefined);
    const resolved = results.flatMap((r) => (r.error === undefined ? [r.position!] : []));
    assert.equal(failures.length, 10, 'each publisher ends with one error');
    for (const { error } of failures) {
      assert.ok(isMycelError(error), `not a MycelError: ${String(error)}`);
      assert.equal(error.code, 'REDIS_UNAVAILABLE');
    }
    assert.ok(resolved.length >= 200);
    for (const position of resolved) assert.equal(position.epoch, oldEpoch);
    // What resolved was really appended: unique offsets right after the first three.
    assert.deepEqual(
      resolved.map((p) => p.offset).sort((a, b) => a - b),
      Array.from({ length: resolved.length }, (_, i) => i + 4),
    );

    // During the outage every call rejects promptly.
    await waitUntil(async () => !bus.commands.isUp && !bus.subscriber.isUp && !presence.connection.isUp, {
      timeoutMs: 5_000,
      what: 'connections to notice the outage',
    });
    const outageCalls: Array<[string, () => Promise<unknown>]> = [
      ['publish with history', () => bus.publish('chat:r', pub('lost'), HISTORY)],
      ['publish', () => bus.publish('chat:r', pub('lost'))],
      ['publishControl', () => bus.publishControl({ type: 'refresh', user: 'u1' })],
      ['subscribe', () => bus.subscribe('chat:new')],
      ['history', () => history.history('chat:r', { limit: -1, metaTtlSeconds: 300 })],
      ['removeHistory', () => history.removeHistory('chat:r')],
      ['presence.add', () => presence.add('chat:r', { user: 'u1', client: 'c1' }, 60)],
      ['presence', () => presence.presence('chat:r')],
    ];
    for (const [name, call] of outageCalls) {
      const started = Date.now();
      await assert.rejects(call(), { code: 'REDIS_UNAVAILABLE' }, name);
      assert.ok(Date.now() - started < COMMAND_TIMEOUT_MS + 500, `${name} did not reject promptly`);
    }
    // Unsubscribing while down succeeds: the next connection simply does not subscribe it.
    await bus.unsubscribe('chat:gone');

    // Reconnect attempts fail meanwhile ('error' events): they are counted, nothing crashes.
    await waitUntil(async () => bus.subscriber.stats.errors > 0 && bus.commands.stats.errors > 0 && presence.connection.stats.errors > 0, {
      timeoutMs: 5_000,
      what: 'failed reconnect attempts',
    });

    // Redis comes back empty on the same port.
    await redis!.restart();
    await rec.waitFor(() => rec.reconnects >= 1, 10_000, 'onReconnect on the bus');
    await peerRec.waitFor(() => peerRec.reconnects >= 1, 10_000, 'onReconnect on the peer');
    const next = await waitUntil(
      async () => {
        try {
          return await bus.publish('chat:r', pub('after'), HISTORY);
        } catch (err) {
          if (isMycelError(err) && err.code === 'REDIS_UNAVAILABLE') return undefined;
          throw err;
        }
      },
      { timeoutMs: 10_000, what: 'a publish to succeed again' },
    );
    assert.notEqual(next!.epoch, oldEpoch);
    assert.equal(next!.offset, 1);

    // Subscriptions were re-established on both instances.
    await rec.waitFor(() => rec.pubs('chat:r').some((p) => p.data === 'after'), 5_000, 'delivery after restart');
    await peerRec.waitFor(() => peerRec.pubs('chat:r').some((p) => p.data === 'after'), 5_000, 'delivery to the peer after restart');
    const afterPub = peerRec.on('chat:r').find((m) => m.type === 'pub' && m.publication.data === 'after');
    assert.deepEqual(afterPub, { type: 'pub', publication: { offset: 1, data: 'after' }, epoch: next!.epoch });
    const h = await history.history('chat:r', { limit: -1, metaTtlSeconds: 300 });
    assert.deepEqual(h.position, next);
    assert.deepEqual(
      h.publications.map((p) => p.data),
      ['after'],
    );
    await bus.subscribe('chat:new');
    await peer.publish('chat:new', pub('new'));
    await rec.waitFor(() => rec.on('chat:new').length === 1, 5_000, 'delivery on a channel subscribed after the restart');
    await peer.publishControl({ type: 'refresh', user: 'u1' });
    await rec.waitFor(() => rec.controls.length === 1, 5_000, 'control after restart');

    // Presence lost its data with Redis and works again.
    const presenceBack = await waitUntil(
      async () => {
        try {
          await presence.add('chat:r', { user: 'u2', client: 'c2' }, 60);
          return true;
        } catch (err) {
          if (isMycelError(err) && err.code === 'REDIS_UNAVAILABLE') return false;
          throw err;
        }
      },
      { timeoutMs: 10_000, what: 'presence to work again' },
    );
    assert.ok(presenceBack);
    assert.deepEqual(await presence.presence('chat:r'), { c2: { user: 'u2', client: 'c2' } });

    assert.equal(bus.subscriber.stats.reconnects, 1);
    assert.deepEqual(bus.stats, { handlerErrors: 0, decodeErrors: 0, clockResyncs: 0 });
    assert.deepEqual(unhandled, []);
  });
});
