// Edits and deletes made over REST reach the realtime subscribers of a persisted channel, on a
// real `mycel serve` with real centrifuge clients: a creation (client publish, with its info),
// an edit (PATCH) and a delete (DELETE) arrive in order with increasing offsets, and a client
// that was away during an edit and a delete recovers both when it comes back.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import type { Post } from '../../src/model/content.js';
import { startMycel } from '../helpers/process.js';
import { API_KEY, collect, sign, waitEvent, waitUntilEvent, wsCentrifuge } from '../integration/realtime-harness.js';

const PASSWORD = 'post-events-pw';
const CONFIG = `realtime:\n  namespaces:\n    feed:\n      persist: true\n      historySize: 100\n`;

interface Pub {
  data: Post;
  offset?: number;
  info?: { user: string; client: string };
}

describe('post events over REST reach persisted-channel subscribers (mycel serve, SQLite)', () => {
  it('creation, PATCH and DELETE arrive in order with increasing offsets; a client away during them recovers both', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mycel-events-'));
    const configFile = join(dir, 'mycel.yaml');
    writeFileSync(configFile, CONFIG);
    const node = await startMycel({ MYCEL_DATA_DIR: join(dir, 'data'), MYCEL_OWNER_PASSWORD: PASSWORD, MYCEL_API_KEY: API_KEY }, ['--config', configFile]);
    const clients: Centrifuge[] = [];
    try {
      const login = await fetch(`${node.url}/api/v1/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ password: PASSWORD }),
      });
      assert.equal(login.status, 201);
      const { token } = (await login.json()) as { token: string };
      const rest = async (method: string, path: string, body?: unknown): Promise<number> => {
        const res = await fetch(`${node.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        await res.arrayBuffer();
        return res.status;
      };
      const ws = `ws://127.0.0.1:${new URL(node.url).port}/connection/websocket`;
      const client = async (user: string): Promise<Centrifuge> => {
        const c = wsCentrifuge(ws, { token: await sign({ sub: user }) });
        c.on('error', () => {});
        clients.push(c);
        return c;
      };

      const reader = await client('reader');
      const away = await client('away');
      const writer = await client('alice');
      const subs = [reader, away].map((c) => c.newSubscription('feed:news'));
      const [readerPubs, awayPubs] = subs.map((s) => collect<Pub>(s, 'publication')) as [Pub[], Pub[]];
      for (const s of subs) s.subscribe();
      const subscribedAll = Promise.all(subs.map((s) => waitEvent(s, 'subscribed')));
      const writerConnected = waitEvent<{ client: string }>(writer, 'connected');
      for (const c of [reader, away, writer]) c.connect();
      await subscribedAll;
      const writerClient = (await writerConnected).client;

      await writer.publish('feed:news', { body: 'one' });
      await writer.publish('feed:news', { body: 'two' });
      await waitUntilEvent(subs[1]!, 'publication', () => awayPubs.length === 2);
      const [one, two] = awayPubs.map((p) => p.data) as [Post, Post];

      const gone = waitEvent(away, 'disconnected');
      away.disconnect();
      await gone;
      assert.equal(await rest('PATCH', `/api/v1/posts/${one.id}`, { body: 'one, edited' }), 200);
      assert.equal(await rest('DELETE', `/api/v1/posts/${two.id}`), 200);
      await waitUntilEvent(subs[0]!, 'publication', () => readerPubs.length === 4);

      const seen = (pubs: Pub[]) => pubs.map((p) => [p.offset, p.data.id, p.data.body, p.data.edited, p.data.deleted]);
      const expected = [
        [1, one.id, 'one', false, false],
        [2, two.id, 'two', false, false],
        [3, one.id, 'one, edited', true, false],
        [4, two.id, '', false, true],
      ];
      assert.deepEqual(seen(readerPubs), expected);
      assert.deepEqual(readerPubs[0]!.info && { user: readerPubs[0]!.info.user, client: readerPubs[0]!.info.client }, { user: 'alice', client: writerClient });
      assert.equal(readerPubs[2]!.info, undefined);

      const back = waitEvent<{ recovered: boolean }>(subs[1]!, 'subscribed');
      away.connect();
      assert.equal((await back).recovered, true);
      await waitUntilEvent(subs[1]!, 'publication', () => awayPubs.length === 4);
      assert.deepEqual(seen(awayPubs), expected);
    } finally {
      for (const c of clients) c.disconnect();
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
