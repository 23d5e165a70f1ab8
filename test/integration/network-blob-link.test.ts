/**
 * Blobs over a node link, role reversal (docs/blobs.md, "Between nodes"): the parent is a client
 * node that connected to the server, which pulls its posts; the server cannot reach the parent
 * over HTTP, so a read of a blob a post refers to fetches it over the link itself, in bounded
 * chunks, verified as stored. Bytes that do not match are not kept.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { OWNER } from '../../src/domain/actor.js';
import { BLOB_CHUNK_BYTES, checkMessage } from '../../src/network/protocol.js';
import { converged, NODE_PASSWORD, register, startTestNode, until, type TestNode } from '../helpers/network.js';

let server: TestNode;
let parent: TestNode;

before(async () => {
  server = await startTestNode('blob-server');
  parent = await startTestNode('blob-parent');
  // The parent connects to the server and serves it its data: the server pulls from a client.
  await register(server.node, parent.node, 'parent');
  await parent.node.network.addServer({ url: server.node.url, password: NODE_PASSWORD, role: 'parent' });
});

after(async () => {
  await parent?.close();
  await server?.close();
});

async function postBlobAtParent(bytes: Buffer): Promise<string> {
  const stored = await parent.node.blobs.put(Readable.from([bytes]));
  await parent.node.core.operator.recordBlob(OWNER, stored, 'application/octet-stream');
  await parent.node.core.operator.createPost(OWNER, { channel: 'lab:raw', createChannel: true, body: 'data', blobRefs: [`sha256://${stored.sha256}`] });
  return stored.sha256;
}

async function loginAt(node: TestNode): Promise<string> {
  const res = await fetch(`${node.node.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'network-owner-pw' }) });
  return ((await res.json()) as { token: string }).token;
}

test('the server reads a blob of its client parent: fetched over the link in chunks, verified, stored', async () => {
  const bytes = randomBytes(5 * BLOB_CHUNK_BYTES + 123);
  const hex = await postBlobAtParent(bytes);
  await converged(parent.node, server.node, 1);
  assert.equal(await server.node.blobs.has(hex), false, 'only the post came by replication');
  const token = await loginAt(server);
  const res = await fetch(`${server.node.url}/api/v1/blobs/sha256/${hex}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
  assert.equal(await server.node.blobs.has(hex), true, 'kept at the server');
  assert.equal(await server.node.blobs.verify(hex), 'ok');
});

test('a blob the parent lacks is BLOB_NOT_FOUND at the server, and the link stays up', async () => {
  const bytes = randomBytes(1000);
  const hex = await postBlobAtParent(bytes);
  await converged(parent.node, server.node, 2);
  await parent.node.blobs.remove(hex);
  const token = await loginAt(server);
  const res = await fetch(`${server.node.url}/api/v1/blobs/sha256/${hex}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 404);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'BLOB_NOT_FOUND');
  const [client] = server.node.network.status().clients;
  assert.equal(client?.state, 'connected');
});

test('damaged bytes at the parent are not kept at the server', async () => {
  const bytes = randomBytes(3 * BLOB_CHUNK_BYTES);
  const hex = await postBlobAtParent(bytes);
  await converged(parent.node, server.node, 3);
  const damaged = Buffer.from(bytes);
  damaged[10] = damaged[10]! ^ 1;
  writeFileSync(parent.node.blobs.pathOf(hex), damaged);
  const token = await loginAt(server);
  const res = await fetch(`${server.node.url}/api/v1/blobs/sha256/${hex}`, { headers: { authorization: `Bearer ${token}` } });
  assert.notEqual(res.status, 200);
  await res.arrayBuffer().catch(() => undefined);
  assert.equal(await server.node.blobs.has(hex), false, 'nothing kept');
  // The parent found the damage while reading and set the file aside.
  await until('the parent to set the damaged file aside', async () => ((await parent.node.blobs.has(hex)) ? undefined : true));
});

test('blob messages are bounded: a chunk longer than 32 KiB in base64 is BAD_MESSAGE', () => {
  assert.throws(() => checkMessage({ t: 'blob-chunk', id: 'x', data: 'A'.repeat(Math.ceil(BLOB_CHUNK_BYTES / 3) * 4 + 4) }), /not valid|malformed/i);
  assert.throws(() => checkMessage({ t: 'blob-get', id: 'x', sha256: 'zz', credit: 1 }));
  assert.throws(() => checkMessage({ t: 'blob-get', id: 'x', sha256: 'a'.repeat(64), credit: 1000 }));
  assert.doesNotThrow(() => checkMessage({ t: 'blob-end', id: 'x', found: true }));
});
