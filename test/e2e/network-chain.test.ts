/**
 * A chain of three `mycel serve` processes (grandparent → parent → child, WebSocket links):
 * writes at the top over REST and realtime publishes appear at the bottom, the digests become
 * equal, a centrifuge client subscribed on the child receives a post published on the
 * grandparent; the parent is stopped and restarted and the child reconnects by itself; with
 * node sessions of two seconds (MYCEL_TEST_SESSION_SECONDS), the child logs in again and keeps
 * replicating.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import type { ServingNode } from '../helpers/process.js';
import { API_KEY, converged, logLines, nodeIdOf, registerClient, rest, serveNode, until, type NodeDb } from '../helpers/network-process.js';
import { sign, waitEvent, waitUntilEvent, wsCentrifuge } from '../integration/realtime-harness.js';

describe('a chain of three nodes (mycel serve, SQLite, WebSocket)', { timeout: 110_000 }, () => {
  let dir: string;
  const db: Record<'top' | 'mid' | 'bottom', NodeDb> = {} as never;
  const proc: Partial<Record<'top' | 'mid' | 'bottom', ServingNode>> = {};
  const clients: Centrifuge[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mycel-chain-'));
    for (const k of ['top', 'mid', 'bottom'] as const) db[k] = { dataDir: join(dir, k) };
    const midId = await nodeIdOf(db.mid, 'mid');
    const bottomId = await nodeIdOf(db.bottom, 'bottom');
    await registerClient(db.top, 'top', midId, 'child');
    await registerClient(db.mid, 'mid', bottomId, 'child');
    proc.top = await serveNode(dir, db.top, 'top');
    // Short sessions at the middle: the bottom must log in again and again while it replicates.
    proc.mid = await serveNode(dir, db.mid, 'mid', [{ url: proc.top.url }], { MYCEL_TEST_SESSION_SECONDS: '2' });
    proc.bottom = await serveNode(dir, db.bottom, 'bottom', [{ url: proc.mid.url }]);
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    for (const k of ['bottom', 'mid', 'top'] as const) await proc[k]?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const all = () => (['top', 'mid', 'bottom'] as const).map((k) => proc[k]!.url);

  it('REST writes and realtime publishes at the top reach the bottom; a subscriber on the bottom receives a post published at the top', async () => {
    const { top } = proc as Required<typeof proc>;
    const created = await rest<{ id: string }>(top.url, 'POST', '/api/v1/channels', { name: 'notes:lobby' });
    assert.equal(created.status, 201);
    for (let i = 0; i < 20; i++) assert.equal((await rest(top.url, 'POST', `/api/v1/channels/${created.body.id}/posts`, { body: `rest ${i}` })).status, 201);
    await converged(all(), 20, 30_000);

    // Subscribe on the bottom node, then publish at the top through the server API.
    const bottomWs = `ws://127.0.0.1:${new URL(proc.bottom!.url).port}/connection/websocket`;
    const client = wsCentrifuge(bottomWs, { token: await sign({ sub: 'reader' }, { key: API_KEY }) });
    client.on('error', () => {});
    clients.push(client);
    const sub = client.newSubscription('notes:lobby');
    const pubs: Array<{ data: { body: string; originNodeId?: string } }> = [];
    sub.on('publication', (p) => pubs.push(p as never));
    const subscribed = waitEvent(sub, 'subscribed');
    sub.subscribe();
    client.connect();
    await subscribed;
    const published = await fetch(`${top.url}/api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify({ channel: 'notes:lobby', data: { body: 'from the top' } }),
    });
    assert.equal(published.status, 200, await published.text());
    await waitUntilEvent(sub, 'publication', () => pubs.some((p) => p.data.body === 'from the top'), 20_000, 'the publication from the top');
    const digest = await converged(all(), 21, 30_000);
    assert.equal(digest.posts.count, 21);
  });

  it('the bottom logged in again as its sessions expired, with no gap and no duplicate', async () => {
    // Sessions of 2 s: by now the middle has ended the bottom's link for an expired session.
    await until('a session expiry at the bottom', () => (logLines(proc.bottom!, 'node link to server ended').some((l) => l.code === 'SESSION_EXPIRED') ? true : undefined), 15_000);
    const { top } = proc as Required<typeof proc>;
    const channels = await rest<{ items: Array<{ id: string }> }>(top.url, 'GET', '/api/v1/channels');
    const channelId = channels.body.items[0]!.id;
    for (let i = 0; i < 10; i++) await rest(top.url, 'POST', `/api/v1/channels/${channelId}/posts`, { body: `after expiry ${i}` });
    await converged(all(), 31, 30_000);
    const changes = await rest<{ items: Array<{ originNodeId: string; originSerial: number }> }>(proc.bottom!.url, 'GET', '/api/v1/changes?limit=1000');
    const origins = changes.body.items.map((c) => `${c.originNodeId}/${c.originSerial}`);
    assert.equal(new Set(origins).size, origins.length);
    assert.deepEqual(changes.body.items.map((c) => c.originSerial), Array.from({ length: 32 }, (_, i) => i + 1));
  });

  it('the middle node stops and starts again; the bottom reconnects by itself and converges', async () => {
    const mid = proc.mid!;
    await mid.stop();
    const { top } = proc as Required<typeof proc>;
    const channels = await rest<{ items: Array<{ id: string }> }>(top.url, 'GET', '/api/v1/channels');
    for (let i = 0; i < 5; i++) await rest(top.url, 'POST', `/api/v1/channels/${channels.body.items[0]!.id}/posts`, { body: `while down ${i}` });
    // Same port, so the bottom's configured URL reaches it again.
    proc.mid = await serveNode(dir, db.mid, 'mid', [{ url: top.url }], { MYCEL_TEST_SESSION_SECONDS: '2' }, new URL(mid.url).port);
    await converged(all(), 36, 40_000);
  });
});
