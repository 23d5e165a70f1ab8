/**
 * Fuzzed client frames against a real server (memory and Redis back-ends, raw WebSockets): one
 * client sends whatever fast-check makes (commands of every method with fields of every type,
 * deep nests, non-finite numbers, hostile strings, garbage lines), and after each frame the
 * server has answered only with documented shapes, never closed with 3004 or replied 100, and a
 * second client's publication still reaches a subscriber that was never unsubscribed.
 * The runs share one server and channel on purpose (a frame must not hurt later traffic), so a
 * shrunk counterexample may need the runs before it; the failure's cause names the frame.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { DISCONNECTS, ERRORS } from '../../src/realtime/protocol/codes.js';
import { realtimeBackends, type RealtimeBackend } from '../helpers/realtime-backends.js';
import { sign, startRealtime, type RawClient, type RealtimeServer } from './realtime-harness.js';

const CHANNEL = 'chat:fuzz';
const METHODS = ['connect', 'subscribe', 'unsubscribe', 'publish', 'presence', 'presence_stats', 'history', 'rpc', 'send', 'refresh', 'sub_refresh'];
const FIELDS = ['channel', 'token', 'data', 'recover', 'offset', 'epoch', 'limit', 'since', 'reverse', 'method', 'subs', 'headers', 'flag', 'positioned', 'recoverable'];
const REPLY_CODES = new Set<number>(Object.values(ERRORS).map((e) => e.code));

const value = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.constantFrom(`"${CHANNEL}"`, '"chat:other"', '"nohist:x"', '"unknown:x"', '1e999', '-1e999', '"\\ud800"', '"a\\u0000b"', '-1', '4294967296', 'true'),
  fc.integer({ min: 1, max: 8000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
);

/** A command of any method with up to four fields of any type. */
const command = fc
  .record({
    id: fc.oneof(fc.integer({ min: 2, max: 50 }).map(String), fc.constantFrom('0', '-1', '"x"', '1e999')),
    method: fc.constantFrom(...METHODS),
    params: fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 4 }),
  })
  .map(({ id, method, params }) => `{"id":${id},"${method}":{${Object.entries(params).map(([k, v]) => `"${k}":${v}`).join(',')}}}`);

/** A publication into the watched channel with any data: none may stop its delivery. */
const publishIntoChannel = fc.tuple(fc.integer({ min: 2, max: 50 }), value).map(([id, data]) => `{"id":${id},"publish":{"channel":"${CHANNEL}","data":${data}}}`);

const line = fc.oneof(
  { weight: 4, arbitrary: command },
  { weight: 2, arbitrary: publishIntoChannel },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);

const frame = fc.record({ connectFirst: fc.boolean(), lines: fc.array(line, { minLength: 1, maxLength: 3 }) });

function pushOf(m: Record<string, unknown>): { channel?: string; pub?: { data: unknown }; unsubscribe?: unknown } | undefined {
  return m.push as { channel?: string; pub?: { data: unknown }; unsubscribe?: unknown } | undefined;
}

for (const factory of realtimeBackends) {
  describe(`realtime fuzzed frames (${factory.name})`, () => {
    let backend: RealtimeBackend;
    let server: RealtimeServer;
    let subscriber: RawClient;
    let publisher: RawClient;

    async function connected(user: string): Promise<RawClient> {
      const raw = await server.raw();
      // These two live through many pings: answer them, as a client does.
      raw.ws.on('message', (data) => {
        if ((data as Buffer).toString('utf8') === '{}') raw.send('{}');
      });
      raw.send({ id: 1, connect: { token: await sign({ sub: user }) } });
      assert.ok((await raw.reply(1)).connect);
      return raw;
    }

    before(async () => {
      backend = await factory.create();
      server = await startRealtime({ backend });
      subscriber = await connected('watcher');
      subscriber.send({ id: 2, subscribe: { channel: CHANNEL, recoverable: true } });
      assert.ok((await subscriber.reply(2)).subscribe);
      publisher = await connected('writer');
    });
    after(async () => {
      await server.close();
      await backend.cleanup();
    });

    it('property: after any fuzzed frame the server answered in documented shapes, and the channel still delivers', async () => {
      let marker = 0;
      let publishId = 100;
      await fc.assert(
        fc.asyncProperty(frame, async ({ connectFirst, lines }) => {
          const fuzzer = await server.raw();
          try {
            if (connectFirst) {
              fuzzer.send({ id: 1, connect: { token: await sign({ sub: 'fuzzer' }) } });
              await fuzzer.reply(1);
            }
            fuzzer.send(lines.join('\n'));
            // A sentinel behind the frame: its reply (or the close) says the frame was handled.
            fuzzer.send({ id: 999, presence_stats: { channel: CHANNEL } });
            const answered = fuzzer.waitFor((m) => m.id === 999, 5000, 'sentinel');
            const closed = fuzzer.waitClose(5000);
            answered.catch(() => {});
            closed.catch(() => {});
            await Promise.race([answered, closed]);
            assert.notEqual(fuzzer.closeCode, DISCONNECTS.internal.code, `closed 3004 after ${lines.join(' | ').slice(0, 200)}`);
            for (const m of fuzzer.received) {
              if (m.error === undefined) continue;
              const e = m.error as { code: unknown; message: unknown };
              assert.equal(typeof e.message, 'string');
              assert.ok(typeof e.code === 'number' && REPLY_CODES.has(e.code), JSON.stringify(m));
              assert.notEqual(e.code, ERRORS.internal.code, `100 after ${lines.join(' | ').slice(0, 200)}`);
            }
          } finally {
            fuzzer.terminate();
          }
          const id = publishId++;
          const m = ++marker;
          publisher.send({ id, publish: { channel: CHANNEL, data: { marker: m } } });
          assert.deepEqual(await publisher.reply(id), { id, publish: {} });
          await subscriber.waitFor((msg) => (pushOf(msg)?.pub?.data as { marker?: number } | undefined)?.marker === m, 5000, `marker ${m}`);
          assert.deepEqual(subscriber.received.filter((msg) => pushOf(msg)?.unsubscribe !== undefined), []);
        }),
        { numRuns: factory.name === 'memory' ? 60 : 30 },
      );
    });
  });
}
