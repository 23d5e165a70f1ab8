// A server API publish into a persisted namespace is exactly-once under its idempotency_key
// across restarts and instances: the key is stored with the post, in its transaction. A real
// `mycel serve` is SIGKILLed after acknowledging a keyed publish and restarted; the retry
// answers with the first position and the channel holds one post. On PostgreSQL, two
// instances sharing the database answer the same key with the same post.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startMycel, type ServingNode } from '../helpers/process.js';
import { processDatabase, type BackendName } from '../helpers/storage.js';
import { API_KEY } from '../integration/realtime-harness.js';

const PASSWORD = 'idempotent-pw';
const CONFIG = `realtime:\n  namespaces:\n    feed:\n      persist: true\n      historySize: 100\n`;
const CHANNEL = 'feed:orders';

type Reply = { result?: { offset?: number; epoch?: string }; error?: { code: number; message: string } };

async function serverApi(node: ServingNode, method: string, params: unknown): Promise<Reply> {
  const res = await fetch(`${node.url}/api/${method}`, {
    method: 'POST',
    headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
    body: JSON.stringify(params),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as Reply;
}

/** The channel's posts, read over REST as the owner. */
async function posts(node: ServingNode): Promise<Array<{ id: string; seq: number; body: string }>> {
  const login = await fetch(`${node.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ password: PASSWORD }),
  });
  assert.equal(login.status, 201);
  const { token } = (await login.json()) as { token: string };
  const auth = { authorization: `Bearer ${token}` };
  const channels = (await (await fetch(`${node.url}/api/v1/channels?name=${encodeURIComponent(CHANNEL)}`, { headers: auth })).json()) as {
    items: Array<{ id: string }>;
  };
  assert.equal(channels.items.length, 1);
  const res = await fetch(`${node.url}/api/v1/channels/${channels.items[0]!.id}/posts?limit=100`, { headers: auth });
  assert.equal(res.status, 200);
  return ((await res.json()) as { items: Array<{ id: string; seq: number; body: string }> }).items;
}

/** A fresh database of `backend` for the node, with its owner password and API key. */
const database = (backend: BackendName, dir: string) => processDatabase(backend, dir, { MYCEL_OWNER_PASSWORD: PASSWORD, MYCEL_API_KEY: API_KEY });

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`server API idempotency_key in a persisted namespace (${backend})`, () => {
    it('a publish retried with the same key after a SIGKILL and restart answers the first position and writes no second post', { timeout: 90_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mycel-idem-'));
      const configFile = join(dir, 'mycel.yaml');
      writeFileSync(configFile, CONFIG);
      const db = await database(backend, dir);
      const args = ['--config', configFile];
      try {
        const first = await startMycel(db.env, args);
        let acknowledged: Reply;
        try {
          await serverApi(first, 'publish', { channel: CHANNEL, data: { body: 'before' } });
          acknowledged = await serverApi(first, 'publish', { channel: CHANNEL, data: { body: 'order 1' }, idempotency_key: 'order-1' });
          assert.equal(acknowledged.error, undefined, JSON.stringify(acknowledged));
          assert.equal(acknowledged.result?.offset, 2);
        } finally {
          const exit = await first.stop('SIGKILL');
          assert.equal(exit.signal, 'SIGKILL');
        }
        const second = await startMycel(db.env, args);
        try {
          const retry = await serverApi(second, 'publish', { channel: CHANNEL, data: { body: 'order 1' }, idempotency_key: 'order-1' });
          assert.deepEqual(retry, acknowledged);
          const broadcast = await serverApi(second, 'broadcast', { channels: [CHANNEL], data: { body: 'order 1' }, idempotency_key: 'order-1' });
          assert.deepEqual(broadcast.result, { responses: [{ result: acknowledged.result }] });
          const other = await serverApi(second, 'publish', { channel: CHANNEL, data: { body: 'order 2' }, idempotency_key: 'order-2' });
          assert.equal(other.result?.offset, 3);
          const bad = await serverApi(second, 'publish', { channel: CHANNEL, data: { body: 'x' }, idempotency_key: 'has space' });
          assert.equal(bad.error?.code, 107, JSON.stringify(bad));
          assert.deepEqual(
            (await posts(second)).map((p) => p.body),
            ['before', 'order 1', 'order 2'],
          );
        } finally {
          await second.stop();
        }
      } finally {
        await db.cleanup();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

describe('server API idempotency_key across instances sharing PostgreSQL', () => {
  it('the same key sent to instance A, then to instance B, writes one post and both answer its position', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mycel-idem-'));
    const configFile = join(dir, 'mycel.yaml');
    writeFileSync(configFile, CONFIG);
    const db = await database('postgres', dir);
    const args = ['--config', configFile];
    const nodes: ServingNode[] = [];
    try {
      nodes.push(await startMycel({ ...db.env, MYCEL_DB_DIR: join(dir, 'data-a') }, args));
      nodes.push(await startMycel({ ...db.env, MYCEL_DB_DIR: join(dir, 'data-b') }, args));
      const [a, b] = nodes as [ServingNode, ServingNode];
      const fromA = await serverApi(a, 'publish', { channel: CHANNEL, data: { body: 'once' }, idempotency_key: 'shared-key' });
      assert.equal(fromA.error, undefined, JSON.stringify(fromA));
      const fromB = await serverApi(b, 'publish', { channel: CHANNEL, data: { body: 'once' }, idempotency_key: 'shared-key' });
      assert.deepEqual(fromB, fromA);
      // Both at once, with a fresh key: one of them writes, the other answers with that post.
      const [x, y] = await Promise.all([
        serverApi(a, 'publish', { channel: CHANNEL, data: { body: 'race' }, idempotency_key: 'race-key' }),
        serverApi(b, 'publish', { channel: CHANNEL, data: { body: 'race' }, idempotency_key: 'race-key' }),
      ]);
      assert.deepEqual(x, y);
      assert.deepEqual(
        (await posts(b)).map((p) => p.body),
        ['once', 'race'],
      );
    } finally {
      for (const n of nodes) await n.stop();
      await db.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
