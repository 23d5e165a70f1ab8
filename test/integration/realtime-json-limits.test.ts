/**
 * JSON limits on the realtime path (docs/protocol.md, "Limits"), on the memory and Redis
 * back-ends with real WebSockets: a publish nested deeper than MAX_JSON_DEPTH or holding a
 * non-finite number is refused with 107 and the channel keeps working for everyone; the Bus
 * itself refuses what it could not encode, alike on both back-ends; a subscribe that fails
 * after it was registered leaves nothing behind, so a retry is not answered 105.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MAX_ENCODED_DEPTH, MAX_JSON_DEPTH } from '../../src/lib/json-limits.js';
import type { HistoryStore } from '../../src/realtime/history-store.js';
import { ERRORS } from '../../src/realtime/protocol/codes.js';
import type { HistoryQuery, HistoryResult } from '../../src/realtime/types.js';
import { realtimeBackends, type RealtimeBackend } from '../helpers/realtime-backends.js';
import { sign, startRealtime, type RawClient, type RealtimeServer } from './realtime-harness.js';

/** `[[[…]]]` nested `depth` levels deep, as JSON text (JSON.stringify itself overflows on it). */
function nestedJson(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

/** An array nested `depth` levels deep: `[[[…]]]`, built without recursion. */
function nestedArray(depth: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

/** A raw client connected as `user`. */
async function connectedRaw(server: RealtimeServer, user: string): Promise<RawClient> {
  const raw = await server.raw();
  raw.send({ id: 1, connect: { token: await sign({ sub: user }) } });
  const reply = await raw.reply(1);
  assert.ok(reply.connect, `connect failed: ${JSON.stringify(reply)}`);
  return raw;
}

function errorCode(reply: Record<string, unknown>): number | undefined {
  return (reply.error as { code?: number } | undefined)?.code;
}

function pubsOf(raw: RawClient, channel: string): Array<{ data: unknown; offset?: number }> {
  return raw.received.flatMap((m) => {
    const push = m.push as { channel?: string; pub?: { data: unknown; offset?: number } } | undefined;
    return push?.channel === channel && push.pub ? [push.pub] : [];
  });
}

function unsubscribePushes(raw: RawClient): unknown[] {
  return raw.received.filter((m) => (m.push as { unsubscribe?: unknown } | undefined)?.unsubscribe !== undefined);
}

/** Fault injection: history that fails once, or answers once with a publication no reply can encode. */
class FaultyHistory implements HistoryStore {
  fault: 'none' | 'throw' | 'unencodable' = 'none';
  constructor(private readonly inner: HistoryStore) {}
  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    const result = await this.inner.history(channel, query);
    if (query.limit === 0 || this.fault === 'none') return result;
    const fault = this.fault;
    this.fault = 'none';
    if (fault === 'throw') throw new Error('injected history failure');
    // What a too-deep value in a stream did before the limits: the subscribe reply cannot be encoded.
    return { ...result, publications: [{ offset: result.position.offset, data: nestedArray(100_000) }] };
  }
  removeHistory(channel: string): Promise<void> {
    return this.inner.removeHistory(channel);
  }
}

describe('realtime subscribe that fails midway (memory, fault injection)', () => {
  let backend: RealtimeBackend;
  let server: RealtimeServer;
  let history: FaultyHistory;

  beforeEach(async () => {
    backend = await realtimeBackends.find((f) => f.name === 'memory')!.create();
    history = new FaultyHistory(backend.history);
    server = await startRealtime({ backend: { ...backend, history } });
  });
  afterEach(async () => {
    await server.close();
    await backend.cleanup();
  });

  it('a connect whose server-side subscription recovers history that cannot be encoded leaves nothing registered', async () => {
    const { epoch } = await server.node.publish('chat:srv', 'before');
    const client = await server.raw();
    history.fault = 'unencodable';
    client.send({ id: 1, connect: { token: await sign({ sub: 'alice', channels: ['chat:srv'] }), subs: { 'chat:srv': { recover: true, offset: 0, epoch } } } });
    assert.equal(errorCode(await client.reply(1)), ERRORS.internal.code);
    assert.equal(server.node.hub.subscriberCount('chat:srv'), 0);
  });

  for (const fault of ['throw', 'unencodable'] as const) {
    it(`a recovering subscribe whose history read ${fault === 'throw' ? 'fails' : 'cannot be encoded'} leaves nothing registered: the retry subscribes (not 105)`, async () => {
      const { epoch } = await server.node.publish('chat:retry', 'before');
      const client = await connectedRaw(server, 'alice');
      history.fault = fault;
      client.send({ id: 2, subscribe: { channel: 'chat:retry', recover: true, offset: 0, epoch } });
      assert.equal(errorCode(await client.reply(2)), ERRORS.internal.code);
      assert.equal(server.node.hub.subscriberCount('chat:retry'), 0);
      assert.equal(server.node.userConnections('alice')[0]?.subs.size, 0);

      client.send({ id: 3, subscribe: { channel: 'chat:retry', recover: true, offset: 0, epoch } });
      const retried = await client.reply(3);
      assert.ok(retried.subscribe, JSON.stringify(retried));
      await server.node.publish('chat:retry', 'after');
      await client.waitFor((m) => (m.push as { pub?: unknown } | undefined)?.pub !== undefined);
      assert.deepEqual(pubsOf(client, 'chat:retry').map((p) => p.data), ['after']);
    });
  }
});

for (const factory of realtimeBackends) {
  describe(`realtime JSON limits (${factory.name})`, () => {
    let backend: RealtimeBackend;
    let server: RealtimeServer;

    beforeEach(async () => {
      backend = await factory.create();
      server = await startRealtime({ backend });
    });
    afterEach(async () => {
      await server.close();
      await backend.cleanup();
    });

    it('a publish nested 6,000 deep is refused with 107; subscribers stay subscribed, later publications and history work', async () => {
      const subscriber = await connectedRaw(server, 'alice');
      subscriber.send({ id: 2, subscribe: { channel: 'chat:deep', recoverable: true } });
      assert.ok((await subscriber.reply(2)).subscribe);
      const publisher = await connectedRaw(server, 'bob');

      publisher.send(`{"id":2,"publish":{"channel":"chat:deep","data":${nestedJson(6000)}}}`);
      const refused = await publisher.reply(2);
      assert.equal(errorCode(refused), ERRORS.badRequest.code, JSON.stringify(refused));

      publisher.send({ id: 3, publish: { channel: 'chat:deep', data: { n: 1 } } });
      assert.deepEqual(await publisher.reply(3), { id: 3, publish: {} });
      await subscriber.waitFor((m) => (m.push as { pub?: unknown } | undefined)?.pub !== undefined, 5000, 'the next publication');
      assert.deepEqual(pubsOf(subscriber, 'chat:deep').map((p) => [p.data, p.offset]), [[{ n: 1 }, 1]]);
      assert.deepEqual(unsubscribePushes(subscriber), []);

      publisher.send({ id: 4, history: { channel: 'chat:deep', limit: 10 } });
      const history = await publisher.reply(4);
      assert.deepEqual((history.history as { publications: Array<{ data: unknown }> }).publications.map((p) => p.data), [{ n: 1 }]);
    });

    it(`nesting up to ${MAX_JSON_DEPTH} levels is delivered; ${MAX_JSON_DEPTH + 1} is refused with 107 and a reason`, async () => {
      const subscriber = await connectedRaw(server, 'alice');
      subscriber.send({ id: 2, subscribe: { channel: 'chat:edge' } });
      assert.ok((await subscriber.reply(2)).subscribe);
      const publisher = await connectedRaw(server, 'bob');
      publisher.send({ id: 2, publish: { channel: 'chat:edge', data: nestedArray(MAX_JSON_DEPTH) } });
      assert.deepEqual(await publisher.reply(2), { id: 2, publish: {} });
      publisher.send({ id: 3, publish: { channel: 'chat:edge', data: nestedArray(MAX_JSON_DEPTH + 1) } });
      const refused = (await publisher.reply(3)).error as { code: number; message: string };
      assert.equal(refused.code, ERRORS.badRequest.code);
      assert.match(refused.message, /deeper than 64/);
      await subscriber.waitFor((m) => (m.push as { pub?: unknown } | undefined)?.pub !== undefined);
      assert.deepEqual(pubsOf(subscriber, 'chat:edge').map((p) => p.data), [nestedArray(MAX_JSON_DEPTH)]);
    });

    it('a number that overflows to Infinity is refused with 107 in publish, rpc and connect data', async () => {
      const publisher = await connectedRaw(server, 'bob');
      publisher.send('{"id":2,"publish":{"channel":"chat:inf","data":{"n":1e999}}}');
      assert.equal(errorCode(await publisher.reply(2)), ERRORS.badRequest.code);
      publisher.send('{"id":3,"rpc":{"method":"x","data":[-1e999]}}');
      assert.equal(errorCode(await publisher.reply(3)), ERRORS.badRequest.code);
      const other = await server.raw();
      other.send(`{"id":1,"connect":{"token":${JSON.stringify(await sign({ sub: 'carol' }))},"data":{"n":1e999}}}`);
      assert.equal(errorCode(await other.reply(1)), ERRORS.badRequest.code);
    });

    it('the Bus refuses a publication it could not encode, and appends nothing for it', async () => {
      const history = { size: 10, ttlSeconds: 60, metaTtlSeconds: 60 };
      await assert.rejects(backend.bus.publish('chat:bus', { type: 'pub', publication: { offset: 0, data: nestedArray(MAX_ENCODED_DEPTH + 1) } }, history));
      const position = await backend.bus.publish('chat:bus', { type: 'pub', publication: { offset: 0, data: nestedArray(MAX_JSON_DEPTH) } }, history);
      assert.equal(position?.offset, 1);
      const read = await backend.history.history('chat:bus', { limit: -1, metaTtlSeconds: 60 });
      assert.equal(read.publications.length, 1);
    });
  });
}
