/**
 * The Bus contract (src/realtime/bus.ts), run against every implementation.
 * "Fences": to show that a message did NOT arrive, the same publisher sends a message on a
 * channel the receiver does listen to afterwards; per-publisher order means that once the
 * fence is in, the other message would have been too.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BusMessage, ClientInfo, ControlCommand, HistoryOptions, Publication, StreamPosition } from '../../src/realtime/types.js';
import { BusRecorder, realtimeBackends, waitUntil, type RealtimeBackend } from '../helpers/realtime-backends.js';

const HISTORY: HistoryOptions = { size: 100, ttlSeconds: 60, metaTtlSeconds: 300 };
const QUERY_ALL = { limit: -1, metaTtlSeconds: 300 };

function pub(data: unknown, extra: Partial<Publication> = {}): BusMessage {
  return { type: 'pub', publication: { offset: 0, data, ...extra } };
}

function dataOf(messages: readonly BusMessage[]): unknown[] {
  return messages.map((m) => (m.type === 'pub' ? m.publication.data : m.type));
}

for (const factory of realtimeBackends) {
  describe(`Bus conformance: ${factory.name}`, () => {
    let backend: RealtimeBackend;

    beforeEach(async () => {
      backend = await factory.create();
    });

    afterEach(async () => {
      await backend.cleanup();
    });

    it('delivers to subscribed instances only', async () => {
      const peer = await backend.createPeer();
      const a = new BusRecorder();
      const b = new BusRecorder();
      backend.bus.setHandler(a);
      peer.bus.setHandler(b);
      await backend.bus.subscribe('chat:one');
      await backend.bus.subscribe('fence:a');
      await peer.bus.subscribe('fence:b');

      const info: ClientInfo = { user: 'u1', client: 'c1', connInfo: { name: 'Ann' } };
      const message = pub({ text: 'hi' }, { info, tags: { k: 'v' }, time: 1700000000000 });
      assert.equal(await peer.bus.publish('chat:one', message), null);
      await peer.bus.publish('fence:b', pub('fence'));
      await peer.bus.publish('fence:a', pub('fence'));

      await a.waitFor(() => a.on('fence:a').length === 1, 5_000, 'fence on a');
      await b.waitFor(() => b.on('fence:b').length === 1, 5_000, 'fence on b');
      assert.deepEqual(
        a.messages.map((m) => m.channel),
        ['chat:one', 'fence:a'],
      );
      assert.deepEqual(a.on('chat:one'), [message]);
      assert.deepEqual(
        b.messages.map((m) => m.channel),
        ['fence:b'],
      );
    });

    it('a subscribed publisher receives its own message; subscribe is idempotent', async () => {
      const rec = new BusRecorder();
      backend.bus.setHandler(rec);
      await backend.bus.subscribe('chat:self');
      await backend.bus.subscribe('chat:self');
      await backend.bus.publish('chat:self', pub(1));
      await backend.bus.publish('chat:self', pub(2));
      await rec.waitFor(() => rec.on('chat:self').length >= 2, 5_000, 'two messages');
      // Fence: nothing arrives twice although subscribe was called twice.
      await backend.bus.subscribe('fence');
      await backend.bus.publish('fence', pub('f'));
      await rec.waitFor(() => rec.on('fence').length === 1, 5_000, 'fence');
      assert.deepEqual(dataOf(rec.on('chat:self')), [1, 2]);
    });

    it('unsubscribe stops delivery', async () => {
      const rec = new BusRecorder();
      backend.bus.setHandler(rec);
      await backend.bus.subscribe('chat:u');
      await backend.bus.subscribe('fence');
      await backend.bus.publish('chat:u', pub('first'));
      await rec.waitFor(() => rec.on('chat:u').length === 1, 5_000, 'first');
      await backend.bus.unsubscribe('chat:u');
      await backend.bus.unsubscribe('chat:u');
      await backend.bus.publish('chat:u', pub('second'), HISTORY);
      await backend.bus.publish('fence', pub('f'));
      await rec.waitFor(() => rec.on('fence').length === 1, 5_000, 'fence');
      assert.deepEqual(dataOf(rec.on('chat:u')), ['first']);
    });

    it('keeps order under 1,000 rapid publishes, with and without history', async () => {
      const rec = new BusRecorder();
      backend.bus.setHandler(rec);
      await backend.bus.subscribe('chat:fast');
      await backend.bus.subscribe('chat:plain');
      const n = 1_000;
      const positions = await Promise.all(
        Array.from({ length: n }, (_, i) => backend.bus.publish('chat:fast', pub(i), HISTORY)),
      );
      await Promise.all(Array.from({ length: n }, (_, i) => backend.bus.publish('chat:plain', pub(i))));
      await rec.waitFor(() => rec.on('chat:fast').length === n && rec.on('chat:plain').length === n, 10_000, `${n} + ${n} messages`);

      const expected = Array.from({ length: n }, (_, i) => i);
      assert.deepEqual(dataOf(rec.on('chat:fast')), expected);
      assert.deepEqual(dataOf(rec.on('chat:plain')), expected);
      assert.deepEqual(
        rec.pubs('chat:fast').map((p) => p.offset),
        expected.map((i) => i + 1),
      );
      assert.deepEqual(
        positions.map((p) => p?.offset),
        expected.map((i) => i + 1),
      );
      assert.equal(new Set(positions.map((p) => p?.epoch)).size, 1);
    });

    it('concurrent publishes from two instances get gapless offsets, delivered in offset order to a third', async () => {
      const b = await backend.createPeer();
      const c = await backend.createPeer();
      const rec = new BusRecorder();
      c.bus.setHandler(rec);
      await c.bus.subscribe('chat:race');
      const perPublisher = 200;
      const calls: Array<Promise<StreamPosition | null>> = [];
      const sources: string[] = [];
      for (let i = 0; i < perPublisher; i++) {
        calls.push(backend.bus.publish('chat:race', pub({ from: 'a', i }), HISTORY));
        sources.push(`a${i}`);
        calls.push(b.bus.publish('chat:race', pub({ from: 'b', i }), HISTORY));
        sources.push(`b${i}`);
      }
      const positions = (await Promise.all(calls)) as StreamPosition[];
      const total = 2 * perPublisher;
      assert.deepEqual(
        positions.map((p) => p.offset).sort((x, y) => x - y),
        Array.from({ length: total }, (_, i) => i + 1),
      );
      assert.equal(new Set(positions.map((p) => p.epoch)).size, 1);

      await rec.waitFor(() => rec.on('chat:race').length === total, 10_000, `${total} messages`);
      const received = rec.on('chat:race');
      assert.deepEqual(
        received.map((m) => (m.type === 'pub' ? m.publication.offset : -1)),
        Array.from({ length: total }, (_, i) => i + 1),
      );
      // Each delivered offset is the one its publisher was told.
      const offsetOf = new Map(sources.map((s, i) => [s, positions[i]!.offset]));
      for (const m of received) {
        assert.equal(m.type, 'pub');
        if (m.type !== 'pub') continue;
        const d = m.publication.data as { from: string; i: number };
        assert.equal(m.publication.offset, offsetOf.get(`${d.from}${d.i}`));
        assert.equal(m.epoch, positions[0]!.epoch);
      }
      // Each publisher's own messages keep their order.
      for (const from of ['a', 'b']) {
        const seq = received.flatMap((m) => (m.type === 'pub' && (m.publication.data as { from: string }).from === from ? [(m.publication.data as { i: number }).i] : []));
        assert.deepEqual(
          seq,
          Array.from({ length: perPublisher }, (_, i) => i),
        );
      }
    });

    it('history options trim to size and respect the TTL', async () => {
      for (let i = 1; i <= 5; i++) await backend.bus.publish('chat:trim', pub(i), { ...HISTORY, size: 3 });
      const trimmed = await backend.history.history('chat:trim', QUERY_ALL);
      assert.deepEqual(
        trimmed.publications.map((p) => [p.offset, p.data]),
        [
          [3, 3],
          [4, 4],
          [5, 5],
        ],
      );
      assert.equal(trimmed.position.offset, 5);

      const first = await backend.bus.publish('chat:ttl', pub('a'), { size: 10, ttlSeconds: 1, metaTtlSeconds: 60 });
      await backend.bus.publish('chat:ttl', pub('b'), { size: 10, ttlSeconds: 1, metaTtlSeconds: 60 });
      const before = await backend.history.history('chat:ttl', QUERY_ALL);
      assert.equal(before.publications.length, 2);
      const started = Date.now();
      const after = await waitUntil(
        async () => {
          const h = await backend.history.history('chat:ttl', QUERY_ALL);
          return h.publications.length === 0 ? h : undefined;
        },
        { timeoutMs: 5_000, what: 'history to expire' },
      );
      assert.ok(Date.now() - started >= 500, 'publications expired too early');
      // The position outlives the publications: same epoch, same top offset.
      assert.deepEqual(after.position, { offset: 2, epoch: first!.epoch });
    });

    it('carries join and leave messages; history options do not apply to them', async () => {
      const peer = await backend.createPeer();
      const rec = new BusRecorder();
      peer.bus.setHandler(rec);
      await peer.bus.subscribe('chat:jl');
      const info: ClientInfo = { user: 'u1', client: 'c1', connInfo: { a: [1, 2] }, chanInfo: null };
      assert.equal(await backend.bus.publish('chat:jl', { type: 'join', info }, HISTORY), null);
      await backend.bus.publish('chat:jl', { type: 'leave', info });
      await rec.waitFor(() => rec.on('chat:jl').length === 2, 5_000, 'join + leave');
      assert.deepEqual(rec.on('chat:jl'), [
        { type: 'join', info },
        { type: 'leave', info },
      ]);
      const h = await backend.history.history('chat:jl', QUERY_ALL);
      assert.deepEqual(h.publications, []);
      assert.equal(h.position.offset, 0);
    });

    it('control commands reach every instance, the sender included', async () => {
      const peer = await backend.createPeer();
      const a = new BusRecorder();
      const b = new BusRecorder();
      backend.bus.setHandler(a);
      peer.bus.setHandler(b);
      const commands: ControlCommand[] = [
        { type: 'disconnect', user: 'u1', whitelist: ['c9'], code: 3503, reason: 'force disconnect' },
        { type: 'subscribe', user: 'u1', channel: 'chat:x', client: 'c1' },
        {
          type: 'node-info',
          node: { uid: 'n1', name: 'a', version: '0.1.0', numClients: 1, numUsers: 1, numChannels: 2, numSubs: 3, uptime: 4, updatedAt: 5 },
        },
      ];
      for (const command of commands) await backend.bus.publishControl(command);
      await a.waitFor(() => a.controls.length === commands.length, 5_000, 'controls on sender');
      await b.waitFor(() => b.controls.length === commands.length, 5_000, 'controls on peer');
      assert.deepEqual(a.controls, commands);
      assert.deepEqual(b.controls, commands);
    });

    it('keeps the epoch across publishes and puts offset and epoch on delivered pubs', async () => {
      const rec = new BusRecorder();
      backend.bus.setHandler(rec);
      await backend.bus.subscribe('chat:epoch');
      const info: ClientInfo = { user: 'u', client: 'c' };
      const positions: StreamPosition[] = [];
      for (let i = 0; i < 3; i++) positions.push((await backend.bus.publish('chat:epoch', pub(i, { info }), HISTORY))!);
      const epoch = positions[0]!.epoch;
      assert.ok(epoch.length > 0);
      assert.deepEqual(positions, [1, 2, 3].map((offset) => ({ offset, epoch })));
      await rec.waitFor(() => rec.on('chat:epoch').length === 3, 5_000, 'three pubs');
      assert.deepEqual(
        rec.on('chat:epoch'),
        [0, 1, 2].map((i) => ({ type: 'pub', publication: { offset: i + 1, data: i, info }, epoch })),
      );
      // Another channel has its own stream.
      const other = await backend.bus.publish('chat:epoch2', pub('x'), HISTORY);
      assert.equal(other!.offset, 1);
      assert.notEqual(other!.epoch, '');
    });

    it('a handler that throws does not stop delivery', async () => {
      const rec = new BusRecorder();
      let thrown = 0;
      backend.bus.setHandler({
        onMessage(channel, message) {
          if (message.type === 'pub' && message.publication.data === 'boom') {
            thrown++;
            throw new Error('handler bug');
          }
          rec.onMessage(channel, message);
        },
        onControl: (command) => rec.onControl(command),
      });
      await backend.bus.subscribe('chat:boom');
      await backend.bus.publish('chat:boom', pub('boom'));
      await backend.bus.publish('chat:boom', pub('after'));
      await rec.waitFor(() => rec.on('chat:boom').length === 1, 5_000, 'message after the throw');
      assert.equal(thrown, 1);
      assert.deepEqual(dataOf(rec.on('chat:boom')), ['after']);
    });

    it('rejects invalid history options and calls after close', async () => {
      await assert.rejects(backend.bus.publish('chat:bad', pub(1), { size: 0, ttlSeconds: 1, metaTtlSeconds: 1 }), { code: 'VALIDATION_FAILED' });
      await assert.rejects(backend.bus.publish('chat:bad', pub(1), { size: 1, ttlSeconds: 0, metaTtlSeconds: 1 }), { code: 'VALIDATION_FAILED' });
      await backend.bus.close();
      await assert.rejects(backend.bus.publish('chat:bad', pub(1)), { code: 'SHUTTING_DOWN' });
    });
  });
}
