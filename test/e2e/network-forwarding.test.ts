// Forwarded writes between real `mycel serve` processes on loopback (SQLite): a child writes
// into its parent's channel over REST, a realtime publish (centrifuge client) and the CLI
// (`mycel --node <child> posts create`); each lands at the parent, comes back, and the reply
// carries the post. A read-only child gets NODE_READ_ONLY, a channel outside the node's
// permissions CHANNEL_NOT_PERMITTED, and with the parent stopped the child answers
// NOT_CONNECTED_TO_ORIGIN at once (REST and CLI).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import type { Post } from '../../src/model/content.js';
import { runMycel, startMycel, type ServingNode } from '../helpers/process.js';
import { API_KEY, sign, waitEvent, wsCentrifuge } from '../integration/realtime-harness.js';

const OWNER_PASSWORD = 'forwarding-e2e-owner';
const NODE_PASSWORD = 'forwarding-e2e-node';
const CONFIG = `realtime:\n  apiKey: ${API_KEY}\n  namespaces:\n    lab:\n      persist: true\n      historySize: 100\n`;

interface Running {
  node: ServingNode;
  dir: string;
  token: string;
  id: string;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function call<T = Record<string, unknown>>(url: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as T };
}

const codeOf = (body: unknown): string | undefined => (body as { error?: { code?: string } }).error?.code;

async function start(name: string, env: Record<string, string> = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), `mycel-fwd-${name}-`));
  const config = join(dir, 'mycel.yaml');
  writeFileSync(config, CONFIG);
  const node = await startMycel({ MYCEL_DATA_DIR: join(dir, 'data'), MYCEL_OWNER_PASSWORD: OWNER_PASSWORD, MYCEL_NODE_NAME: name, ...env }, ['--config', config]);
  const login = await fetch(`${node.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: OWNER_PASSWORD }) });
  const { token } = (await login.json()) as { token: string };
  const info = (await (await fetch(`${node.url}/api/v1/node`)).json()) as { id: string };
  return { node, dir, token, id: info.id };
}

/** Registers `child` at `parent`, connects it over REST and waits until it holds `channel`; returns the channel's id. */
async function connect(parent: Running, child: Running, channel: string, writeAccess: 'read-only' | 'read-write'): Promise<string> {
  const registered = await call(parent.node.url, parent.token, 'POST', '/api/v1/nodes', { nodeId: child.id, password: NODE_PASSWORD, role: 'child', writeAccess });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  const added = await call(child.node.url, child.token, 'POST', '/api/v1/network/servers', { url: parent.node.url, password: NODE_PASSWORD, role: 'child' });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  return until(`${channel} at the child`, async () => {
    const page = await call<{ items: Array<{ id: string }> }>(child.node.url, child.token, 'GET', `/api/v1/channels?name=${encodeURIComponent(channel)}`);
    return page.body.items[0]?.id;
  });
}

describe('forwarded writes between mycel serve processes', { timeout: 180_000 }, () => {
  let parent: Running;
  let child: Running;
  let readOnly: Running;
  let channelId: string;
  const clients: Centrifuge[] = [];

  before(async () => {
    // The child's forward timeout is long: a quick NOT_CONNECTED_TO_ORIGIN comes from the missing link, not from a timer.
    [parent, child, readOnly] = await Promise.all([start('fwd-parent'), start('fwd-child', { MYCEL_FORWARD_TIMEOUT_MS: '30000' }), start('fwd-readonly')]);
    const created = await call<{ id: string }>(parent.node.url, parent.token, 'POST', '/api/v1/channels', { name: 'lab:shared' });
    assert.equal(created.status, 201);
    channelId = await connect(parent, child, 'lab:shared', 'read-write');
    assert.equal(channelId, created.body.id);
    await connect(parent, readOnly, 'lab:shared', 'read-only');
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    for (const r of [child, readOnly, parent]) {
      if (!r) continue;
      await r.node.stop();
      rmSync(r.dir, { recursive: true, force: true });
    }
  });

  it('REST: the post lands at the parent, comes back, and the reply carries it', async () => {
    const res = await call<Post>(child.node.url, child.token, 'POST', `/api/v1/channels/${channelId}/posts`, { body: 'over REST' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.body, 'over REST');
    assert.equal(res.body.originNodeId, parent.id);
    assert.equal(res.body.author, `node:${child.id}`);
    const atParent = await call<Post>(parent.node.url, parent.token, 'GET', `/api/v1/posts/${res.body.id}`);
    assert.deepEqual(atParent.body, res.body);
    const atChild = await call<Post>(child.node.url, child.token, 'GET', `/api/v1/posts/${res.body.id}`);
    assert.deepEqual(atChild.body, res.body, 'already imported when the reply came');
  });

  it('realtime: a publish in a persisted namespace is acknowledged once the post is back', async () => {
    const ws = `ws://127.0.0.1:${new URL(child.node.url).port}/connection/websocket`;
    const writer = wsCentrifuge(ws, { token: await sign({ sub: 'alice' }) });
    writer.on('error', () => {});
    clients.push(writer);
    const connected = waitEvent(writer, 'connected');
    writer.connect();
    await connected;
    await writer.publish('lab:shared', { body: 'over realtime' });
    // Acknowledged: the post is at the parent and, imported, at the child.
    for (const r of [parent, child]) {
      const page = await call<{ items: Post[] }>(r.node.url, r.token, 'GET', `/api/v1/channels/${channelId}/posts?order=desc&limit=1`);
      assert.equal(page.body.items[0]?.body, 'over realtime', r.node.url);
      assert.equal(page.body.items[0]?.originNodeId, parent.id);
    }
  });

  it('CLI: mycel --node <child> posts create forwards it too', async () => {
    const out = await runMycel(['--node', child.node.url, 'posts', 'create', 'lab:shared', 'over the CLI', '--json'], { MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });
    assert.equal(out.code, 0, out.stderr);
    const post = JSON.parse(out.stdout) as Post;
    assert.equal(post.body, 'over the CLI');
    assert.equal(post.originNodeId, parent.id);
    const atParent = await call<Post>(parent.node.url, parent.token, 'GET', `/api/v1/posts/${post.id}`);
    assert.equal(atParent.status, 200);
  });

  it('a read-only child is refused with NODE_READ_ONLY', async () => {
    const res = await call(readOnly.node.url, readOnly.token, 'POST', `/api/v1/channels/${channelId}/posts`, { body: 'not allowed' });
    assert.equal(res.status, 403);
    assert.equal(codeOf(res.body), 'NODE_READ_ONLY');
  });

  it('a channel outside the node’s permissions is refused with CHANNEL_NOT_PERMITTED', async () => {
    const narrowed = await call(parent.node.url, parent.token, 'PATCH', `/api/v1/nodes/${child.id}`, { channels: ['other:*'] });
    assert.equal(narrowed.status, 200, JSON.stringify(narrowed.body));
    try {
      const res = await call(child.node.url, child.token, 'POST', `/api/v1/channels/${channelId}/posts`, { body: 'outside' });
      assert.equal(res.status, 403);
      assert.equal(codeOf(res.body), 'CHANNEL_NOT_PERMITTED');
    } finally {
      await call(parent.node.url, parent.token, 'PATCH', `/api/v1/nodes/${child.id}`, { channels: [] });
    }
  });

  it('with the parent stopped, NOT_CONNECTED_TO_ORIGIN at once (REST and CLI)', async () => {
    await parent.node.stop();
    await until('the child to see its parent go', async () => {
      const status = await call<{ servers: Array<{ state: string }> }>(child.node.url, child.token, 'GET', '/api/v1/network/status');
      return status.body.servers.every((s) => s.state !== 'connected') ? true : undefined;
    });
    const started = Date.now();
    const res = await call(child.node.url, child.token, 'POST', `/api/v1/channels/${channelId}/posts`, { body: 'nobody to take it' });
    assert.equal(res.status, 503);
    assert.equal(codeOf(res.body), 'NOT_CONNECTED_TO_ORIGIN');
    assert.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms, not after the 30 s timeout`);
    const out = await runMycel(['--node', child.node.url, 'posts', 'create', 'lab:shared', 'nor over the CLI'], { MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /NOT_CONNECTED_TO_ORIGIN/);
    const page = await call<{ items: Post[] }>(child.node.url, child.token, 'GET', `/api/v1/channels/${channelId}/posts?limit=100`);
    assert.ok(!page.body.items.some((p) => p.body.startsWith('nobody') || p.body.startsWith('nor ')), 'nothing was written at the child');
  });
});
