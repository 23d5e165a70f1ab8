/**
 * Forwarded writes between nodes in process (the assembly `mycel serve` uses, real sockets on
 * loopback): a child's REST and realtime writes into its parent's channels land at the parent,
 * come back, and the reply carries the child's copy; onward through a middle node; the
 * parent's refusals (read-only, channel permissions, the node's own rights) reach the caller
 * with their codes; with the parent gone, NOT_CONNECTED_TO_ORIGIN at once; a change that does
 * not come back in time is FORWARD_TIMEOUT, and more calls than the bound FORWARD_QUEUE_FULL.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { OWNER } from '../../src/domain/actor.js';
import type { Post } from '../../src/model/content.js';
import { NODE_PASSWORD, OWNER_PASSWORD, serverStatus, startTestNode, until, type TestNode } from '../helpers/network.js';
import { API_KEY, collect, sign, waitEvent, waitUntilEvent, wsCentrifuge } from './realtime-harness.js';

const REALTIME = { apiKey: API_KEY, namespaces: { feed: { persist: true, historySize: 100 }, lab: { persist: true } } };

const nodes: TestNode[] = [];
const clients: Centrifuge[] = [];
async function node(name: string, extra: Parameters<typeof startTestNode>[1] = {}): Promise<TestNode> {
  const n = await startTestNode(name, { realtime: REALTIME, ...extra });
  nodes.push(n);
  return n;
}
after(async () => {
  for (const c of clients) c.disconnect();
  for (const n of nodes.reverse()) await n.close().catch(() => undefined);
});

async function ownerToken(n: TestNode): Promise<string> {
  const res = await fetch(`${n.node.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: OWNER_PASSWORD }) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { token: string }).token;
}

async function rest<T = Record<string, unknown>>(n: TestNode, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${n.node.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as T };
}

const codeOf = (body: unknown): string | undefined => (body as { error?: { code?: string } }).error?.code;

/** Registers `child` at `parent` (read-write unless told), connects it as a child and waits until it holds `channel`. */
async function link(parent: TestNode, child: TestNode, channel: string, options: { writeAccess?: 'read-only' | 'read-write'; asOwner?: boolean } = {}): Promise<string> {
  await parent.node.core.clientNodes.register(OWNER, {
    nodeId: child.node.core.node.id,
    password: NODE_PASSWORD,
    role: 'child',
    writeAccess: options.writeAccess ?? 'read-write',
    asOwner: options.asOwner === true,
  });
  await child.node.network.addServer({ url: parent.node.url, password: NODE_PASSWORD, role: 'child' });
  const found = await until(`${child.node.core.node.name} to hold ${channel}`, async () => (await child.node.core.storage.getChannelByName(channel)) ?? undefined);
  return found.id;
}

describe('forwarded writes', { timeout: 120_000 }, () => {
  it('a REST post in the parent’s channel lands at the parent, comes back, and the reply is the child’s copy; edit and delete too', async () => {
    const parent = await node('fw-parent');
    const child = await node('fw-child');
    const channel = await parent.node.core.operator.createChannel(OWNER, { name: 'lab:notes' });
    const channelId = await link(parent, child, 'lab:notes');
    assert.equal(channelId, channel.id);
    const token = await ownerToken(child);
    const before = await child.node.core.storage.countChanges();

    const created = await rest<Post>(child, token, 'POST', `/api/v1/channels/${channelId}/posts`, { body: 'written at the child', meta: { n: 1 } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.originNodeId, parent.node.core.node.id, 'the post belongs to the channel’s origin');
    assert.equal(created.body.author, `node:${child.node.core.node.id}`);
    assert.deepEqual(await parent.node.core.storage.getPost(created.body.id), created.body);
    // Answered only once imported: the child holds it as the parent's change, not as one of its own.
    assert.deepEqual(await child.node.core.storage.getPost(created.body.id), created.body);
    const mine = (await child.node.core.storage.getChanges(before + 1, 100)).filter((c) => c.originNodeId === child.node.core.node.id);
    assert.deepEqual(mine, [], 'nothing of it was committed as the child’s own change');

    const edited = await rest<Post>(child, token, 'PATCH', `/api/v1/posts/${created.body.id}`, { body: 'edited at the child' });
    assert.equal(edited.status, 200, JSON.stringify(edited.body));
    assert.equal(edited.body.body, 'edited at the child');
    assert.equal((await parent.node.core.storage.getPost(created.body.id))?.body, 'edited at the child');
    const deleted = await rest<Post>(child, token, 'DELETE', `/api/v1/posts/${created.body.id}`);
    assert.equal(deleted.status, 200);
    assert.equal(deleted.body.deleted, true);
    assert.equal((await parent.node.core.storage.getPost(created.body.id))?.deleted, true);

    // An Idempotency-Key makes a retry exactly-once: answered here from the imported post.
    const keyed = await fetch(`${child.node.url}/api/v1/channels/${channelId}/posts`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'retry-1' }, body: JSON.stringify({ body: 'once' }) });
    const first = (await keyed.json()) as Post;
    const again = await fetch(`${child.node.url}/api/v1/channels/${channelId}/posts`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'retry-1' }, body: JSON.stringify({ body: 'once' }) });
    assert.equal(((await again.json()) as Post).id, first.id);
    const posts = await parent.node.core.storage.listPosts(channelId, { limit: 100 });
    assert.equal(posts.filter((p) => p.body === 'once').length, 1);

    // The node's own rights at the parent: a channel needs owner rights there.
    const patch = await rest(child, token, 'PATCH', `/api/v1/channels/${channelId}`, { description: 'x' });
    assert.equal(patch.status, 403);
    assert.equal(codeOf(patch.body), 'FORBIDDEN');
    assert.equal((await parent.node.core.storage.getChannel(channelId))?.description, '');
  });

  it('a realtime publish in a persisted namespace is forwarded; subscribers on the child get the post from the import', async () => {
    const parent = await node('rt-parent');
    const child = await node('rt-child');
    await parent.node.core.operator.createChannel(OWNER, { name: 'feed:shared' });
    await link(parent, child, 'feed:shared');
    const ws = `ws://127.0.0.1:${new URL(child.node.url).port}/connection/websocket`;
    const writer = wsCentrifuge(ws, { token: await sign({ sub: 'alice' }) });
    const reader = wsCentrifuge(ws, { token: await sign({ sub: 'bob' }) });
    clients.push(writer, reader);
    for (const c of [writer, reader]) c.on('error', () => {});
    const sub = reader.newSubscription('feed:shared');
    const pubs = collect<{ data: Post; offset?: number }>(sub, 'publication');
    const subscribed = waitEvent(sub, 'subscribed');
    sub.subscribe();
    reader.connect();
    await subscribed;
    const connected = waitEvent(writer, 'connected');
    writer.connect();
    await connected;
    const result = await writer.publish('feed:shared', { body: 'published at the child' });
    assert.ok(result);
    await waitUntilEvent(sub, 'publication', () => pubs.length === 1);
    const post = pubs[0]!.data;
    assert.equal(post.body, 'published at the child');
    assert.equal(post.originNodeId, parent.node.core.node.id);
    assert.equal((await parent.node.core.storage.getPost(post.id))?.body, 'published at the child');
  });

  it('refusals come back with their codes: NODE_READ_ONLY, CHANNEL_NOT_PERMITTED; nothing is written anywhere', async () => {
    const parent = await node('deny-parent');
    const readOnly = await node('deny-ro');
    const narrowed = await node('deny-narrow');
    await parent.node.core.operator.createChannel(OWNER, { name: 'lab:deny' });
    const channelId = await link(parent, readOnly, 'lab:deny', { writeAccess: 'read-only' });
    await link(parent, narrowed, 'lab:deny');
    // The owner narrows the second node's channels after it has pulled this one.
    await parent.node.core.clientNodes.set(OWNER, narrowed.node.core.node.id, { channels: ['other:*'] });
    const before = await parent.node.core.storage.countChanges();
    const ro = await rest(readOnly, await ownerToken(readOnly), 'POST', `/api/v1/channels/${channelId}/posts`, { body: 'x' });
    assert.equal(ro.status, 403);
    assert.equal(codeOf(ro.body), 'NODE_READ_ONLY');
    const out = await rest(narrowed, await ownerToken(narrowed), 'POST', `/api/v1/channels/${channelId}/posts`, { body: 'x' });
    assert.equal(out.status, 403);
    assert.equal(codeOf(out.body), 'CHANNEL_NOT_PERMITTED');
    // A realtime publish gets the refusal as error 103, its message led by the code.
    const ws = `ws://127.0.0.1:${new URL(readOnly.node.url).port}/connection/websocket`;
    const publisher = wsCentrifuge(ws, { token: await sign({ sub: 'carol' }) });
    publisher.on('error', () => {});
    clients.push(publisher);
    const connected = waitEvent(publisher, 'connected');
    publisher.connect();
    await connected;
    await assert.rejects(publisher.publish('lab:deny', { body: 'x' }), (err: { code?: number; message?: string }) => {
      assert.equal(err.code, 103);
      assert.match(err.message ?? '', /^NODE_READ_ONLY/);
      return true;
    });
    assert.equal(await parent.node.core.storage.countChanges(), before);
  });

  it('with the parent gone, NOT_CONNECTED_TO_ORIGIN at once', async () => {
    const parent = await node('down-parent');
    // A long forward timeout: the refusal must come from the missing link, not from a timer.
    const child = await node('down-child', { network: { forwardTimeoutMs: 30_000 } });
    await parent.node.core.operator.createChannel(OWNER, { name: 'lab:down' });
    const channelId = await link(parent, child, 'lab:down');
    const token = await ownerToken(child);
    await parent.close();
    await until('the child to see the link go', () => (serverStatus(child.node).state !== 'connected' ? true : undefined));
    const started = Date.now();
    const res = await rest(child, token, 'POST', `/api/v1/channels/${channelId}/posts`, { body: 'nobody to take it' });
    assert.equal(res.status, 503);
    assert.equal(codeOf(res.body), 'NOT_CONNECTED_TO_ORIGIN');
    assert.ok(Date.now() - started < 5000, `refused at once, not after the timeout: ${Date.now() - started} ms`);
    assert.equal((await child.node.core.storage.listPosts(channelId, { limit: 10 })).length, 0);
  });

  it('through a middle node: the child’s write goes on to the grandparent and comes back down', async () => {
    const top = await node('chain-top');
    const middle = await node('chain-middle');
    const bottom = await node('chain-bottom');
    await top.node.core.operator.createChannel(OWNER, { name: 'lab:chain' });
    await link(top, middle, 'lab:chain');
    const channelId = await link(middle, bottom, 'lab:chain');
    const created = await rest<Post>(bottom, await ownerToken(bottom), 'POST', `/api/v1/channels/${channelId}/posts`, { body: 'from the bottom' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.originNodeId, top.node.core.node.id);
    // The top sees the middle node as the writer: it forwarded the write on as itself.
    assert.equal(created.body.author, `node:${middle.node.core.node.id}`);
    assert.ok(await top.node.core.storage.getPost(created.body.id));
    assert.ok(await middle.node.core.storage.getPost(created.body.id));
  });

  it('a change that does not come back in time is FORWARD_TIMEOUT (committed at the origin); more calls than the bound are FORWARD_QUEUE_FULL', async () => {
    // The parent sends 5 changes a chunk: its backlog of posts keeps the child's import far
    // behind, so the forwarded write's change comes back long after the child's 100 ms.
    const parent = await node('slow-parent', { network: { changesChunkSize: 5 } });
    const child = await node('slow-child', { network: { forwardTimeoutMs: 100, maxPendingForwards: 1 } });
    const channel = await parent.node.core.operator.createChannel(OWNER, { name: 'lab:slow' });
    await Promise.all(Array.from({ length: 3000 }, (_, i) => parent.node.core.operator.createPost(OWNER, { channelId: channel.id, body: `backlog ${i}` })));
    await link(parent, child, 'lab:slow');
    const first = child.node.core.operator.createPost(OWNER, { channelId: channel.id, body: 'late' });
    await assert.rejects(child.node.core.operator.createPost(OWNER, { channelId: channel.id, body: 'one too many' }), { code: 'FORWARD_QUEUE_FULL' });
    await assert.rejects(first, (err: { code?: string; details?: { committedAtOrigin?: boolean } }) => {
      assert.equal(err.code, 'FORWARD_TIMEOUT');
      assert.equal(err.details?.committedAtOrigin, true);
      return true;
    });
    const atParent = await parent.node.core.storage.listPosts(channel.id, { limit: 1, reverse: true });
    assert.equal(atParent[0]?.body, 'late', 'committed at the origin all the same');
    assert.equal((await parent.node.core.storage.listPosts(channel.id, { limit: 5000 })).filter((p) => p.body === 'one too many').length, 0);
    // It arrives with the rest of the catch-up.
    await until('the late post at the child', async () => ((await child.node.core.storage.getPost(atParent[0]!.id)) ? true : undefined), 60_000);
  });
});
