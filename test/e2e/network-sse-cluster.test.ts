/**
 * Node links without WebSocket, and to a node of several instances:
 * - a parent with server.enableWebsocket false (its realtime WebSocket endpoint is gone too):
 *   the child, on `transport: auto`, falls back to SSE + HTTP and converges, live changes too;
 * - a parent of two instances on one PostgreSQL database and Redis: a child connected to
 *   instance A receives a write committed on instance B.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import { TEST_REDIS_URL } from '../helpers/env.js';
import type { ServingNode } from '../helpers/process.js';
import { deleteKeys } from '../helpers/realtime-backends.js';
import { processDatabase } from '../helpers/storage.js';
import { converged, logLines, nodeIdOf, registerClient, rest, serveNode, type NodeDb } from '../helpers/network-process.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-net-sse-'));
const procs: ServingNode[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const p of procs.reverse()) await p.stop();
  for (const c of cleanups) await c();
  rmSync(dir, { recursive: true, force: true });
});

async function writePosts(url: string, channel: string, n: number, from = 0): Promise<void> {
  const list = await rest<{ items: Array<{ id: string; name: string }> }>(url, 'GET', '/api/v1/channels');
  let id = list.body.items.find((c) => c.name === channel)?.id;
  if (!id) {
    const created = await rest<{ id: string }>(url, 'POST', '/api/v1/channels', { name: channel });
    assert.equal(created.status, 201);
    id = created.body.id;
  }
  for (let i = 0; i < n; i++) assert.equal((await rest(url, 'POST', `/api/v1/channels/${id}/posts`, { body: `${channel} ${from + i}` })).status, 201);
}

/** The HTTP status an upgrade to `path` gets (0 when it upgrades). */
function upgradeStatus(url: string, path: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}${path}`);
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? -1);
    });
    ws.once('open', () => {
      ws.close();
      resolve(0);
    });
    ws.once('error', () => {});
  });
}

describe('node links over SSE + HTTP (server.enableWebsocket false)', { timeout: 60_000 }, () => {
  it('the child falls back to SSE by itself and converges, catch-up and live', async () => {
    const parentDb: NodeDb = { dataDir: join(dir, 'sse-parent') };
    const childDb: NodeDb = { dataDir: join(dir, 'sse-child') };
    await registerClient(parentDb, 'sse-parent', await nodeIdOf(childDb, 'sse-child'), 'child');
    const parent = await serveNode(dir, parentDb, 'sse-parent', [], { MYCEL_ENABLE_WEBSOCKET: 'false' });
    procs.push(parent);
    assert.equal(await upgradeStatus(parent.url, '/connection/websocket'), 404);
    assert.equal(await upgradeStatus(parent.url, '/api/v1/nodes/link'), 404);
    await writePosts(parent.url, 'notes:sse', 30);
    const child = await serveNode(dir, childDb, 'sse-child', [{ url: parent.url, transport: 'auto' }]);
    procs.push(child);
    await converged([parent.url, child.url], 30, 30_000);
    await writePosts(parent.url, 'notes:sse', 10, 30);
    await converged([parent.url, child.url], 40, 30_000);
    assert.equal(logLines(child, 'the server refuses WebSocket links; using SSE').length, 1);
    const open = logLines(child, 'node link open');
    assert.equal(open.at(-1)?.transport, 'sse');
  });
});

describe('a parent of two instances (PostgreSQL + Redis)', { timeout: 60_000 }, () => {
  it('a child connected to instance A receives a write committed on instance B', async () => {
    const pg = await processDatabase('postgres', join(dir, 'pg'), {});
    cleanups.push(pg.cleanup);
    const parentDb: NodeDb = { dataDir: join(dir, 'pg-parent'), databaseUrl: pg.env.MYCEL_DATABASE_URL! };
    const childDb: NodeDb = { dataDir: join(dir, 'pg-child') };
    const parentId = await nodeIdOf(parentDb, 'two-instances');
    cleanups.push(() => deleteKeys(TEST_REDIS_URL, `mycel:${parentId}`));
    await registerClient(parentDb, 'two-instances', await nodeIdOf(childDb, 'pg-child'), 'child');
    const env = { MYCEL_REDIS_URL: TEST_REDIS_URL };
    const a = await serveNode(dir, parentDb, 'instance-a', [], env);
    procs.push(a);
    const b = await serveNode(dir, parentDb, 'instance-b', [], env);
    procs.push(b);
    await writePosts(a.url, 'notes:cluster', 3);
    const child = await serveNode(dir, childDb, 'pg-child', [{ url: a.url }]);
    procs.push(child);
    await converged([a.url, child.url], 3, 30_000);
    // Committed by B: A's link learns of it through PostgreSQL (LISTEN/NOTIFY), not a poll.
    await writePosts(b.url, 'notes:cluster', 4, 3);
    const digest = await converged([b.url, a.url, child.url], 7, 20_000);
    assert.equal(digest.posts.count, 7);
  });
});
