/**
 * The server API holds publication data to the client JSON limits (docs/protocol.md, "Limits"),
 * on the memory and Redis back-ends over real HTTP: data nested past 64 levels or holding a
 * non-finite number is 107 for publish and broadcast (never 100), and fuzzed
 * data never breaks the channel for a WebSocket subscriber.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ERRORS } from '../../src/realtime/protocol/codes.js';
import { realtimeBackends, type RealtimeBackend } from '../helpers/realtime-backends.js';
import { sign, RawClient } from './realtime-harness.js';
import { API_KEY, startHttpRealtime, type HttpRealtimeServer } from './realtime-http-harness.js';

type ApiBody = { result?: unknown; error?: { code: number; message: string } };

function deepText(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

for (const factory of realtimeBackends) {
  describe(`server API JSON limits (${factory.name})`, () => {
    let backend: RealtimeBackend;
    let server: HttpRealtimeServer;
    let subscriber: RawClient;

    async function call(method: string, paramsJson: string): Promise<{ status: number; body: ApiBody }> {
      const res = await fetch(`${server.base}/api/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': API_KEY }, body: paramsJson });
      return { status: res.status, body: (await res.json()) as ApiBody };
    }

    before(async () => {
      backend = await factory.create();
      server = await startHttpRealtime({ backend });
      subscriber = await RawClient.open(`ws://127.0.0.1:${server.port}/connection/websocket`);
      subscriber.ws.on('message', (data) => {
        if ((data as Buffer).toString('utf8') === '{}') subscriber.send('{}');
      });
      subscriber.send({ id: 1, connect: { token: await sign({ sub: 'watcher' }) } });
      await subscriber.reply(1);
      subscriber.send({ id: 2, subscribe: { channel: 'chat:api' } });
      assert.ok((await subscriber.reply(2)).subscribe);
    });
    after(async () => {
      subscriber.terminate();
      await server.close();
      await backend.cleanup();
    });

    it('publish of data nested 6,000 deep, or with 1e999, is 107, for broadcast too', async () => {
      for (const data of [deepText(6000), deepText(65), '{"n":1e999}']) {
        const res = await call('publish', `{"channel":"chat:api","data":${data}}`);
        assert.equal(res.status, 200);
        assert.equal(res.body.error?.code, ERRORS.badRequest.code, JSON.stringify(res.body).slice(0, 200));
      }
      const b64 = Buffer.from(deepText(6000)).toString('base64');
      assert.equal((await call('publish', `{"channel":"chat:api","b64data":"${b64}"}`)).body.error?.code, ERRORS.badRequest.code);
      const broadcast = await call('broadcast', `{"channels":["chat:api","chat:other"],"data":${deepText(6000)}}`);
      assert.equal(broadcast.body.error?.code, ERRORS.badRequest.code, JSON.stringify(broadcast.body).slice(0, 200));
      assert.equal((await call('publish', `{"channel":"chat:api","data":${deepText(64)}}`)).body.error, undefined);
      await subscriber.waitFor((m) => JSON.stringify(m).includes('"pub"'));
    });

    it('property: any publish data is a result or 107, never 100, and the subscriber keeps receiving', async () => {
      const data = fc.oneof(
        fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
        fc.integer({ min: 1, max: 10_000 }).map(deepText),
        fc.constantFrom('1e999', '[-1e999]', '"\\ud800"', '"\\u0000"'),
      );
      let marker = 0;
      await fc.assert(
        fc.asyncProperty(data, async (text) => {
          const res = await call('publish', `{"channel":"chat:api","data":${text}}`);
          assert.equal(res.status, 200);
          if (res.body.error) assert.equal(res.body.error.code, ERRORS.badRequest.code, `${text.slice(0, 80)}: ${res.body.error.message}`);
          const m = ++marker;
          assert.equal((await call('publish', `{"channel":"chat:api","data":{"marker":${m}}}`)).body.error, undefined);
          await subscriber.waitFor((msg) => JSON.stringify(msg).includes(`{"marker":${m}}`), 5000, `marker ${m}`);
        }),
        { numRuns: 40 },
      );
      assert.equal(subscriber.received.filter((msg) => JSON.stringify(msg).includes('"unsubscribe"')).length, 0);
    });
  });
}
