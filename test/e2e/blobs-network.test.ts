// Blobs between real `mycel serve` processes on loopback: a child node pulls posts referring to
// blobs from its parent; the bytes stay at the parent until the child is asked for one (GET at
// the child fetches it over the link's node session, verifies it and stores it), except in
// blobs.eagerChannels, fetched as soon as the post arrives. The child's own logs show a fetch.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { OWNER_PASSWORD, nodeIdOf, registerClient, serveNode, until, type NodeDb } from '../helpers/network-process.js';
import { runMycel, type ServingNode } from '../helpers/process.js';
import { createChannel, createPost, getBlob, postsOf, putBlob } from './blobs-rest.js';

const root = mkdtempSync(join(tmpdir(), 'mycel-blobs-net-'));
after(() => rmSync(root, { recursive: true, force: true }));

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
/** Where the filesystem store keeps a blob's bytes (docs/blobs.md). */
const blobFile = (dataDir: string, hex: string): string => join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex.slice(2, 4), hex);

describe('blobs between a parent and a child node', () => {
  const parentDb: NodeDb = { dataDir: join(root, 'parent') };
  const childDb: NodeDb = { dataDir: join(root, 'child') };
  let parent: ServingNode;
  let child: ServingNode;
  const lazy = randomBytes(300_000);
  const eager = randomBytes(200_000);

  const channels = new Map<string, string>();
  /** Uploads at the parent and posts its URI there, as `mycel store --channel` does. */
  const store = async (bytes: Buffer, channel: string): Promise<void> => {
    const { sha256: uri, sha1 } = await putBlob(parent.url, bytes);
    await createPost(parent.url, channels.get(channel)!, 'data', [uri, sha1]);
  };
  /** Waits until the child has `count` posts in `channel`. */
  const childHas = (channel: string, count: number) =>
    until(`${count} posts in ${channel} at the child`, async () => {
      const id = channels.get(channel)!;
      return (await postsOf(child.url, id).catch(() => [])).length >= count ? true : undefined;
    }, 60_000, 250);

  before(async () => {
    const childId = await nodeIdOf(childDb, 'child');
    await registerClient(parentDb, 'parent', childId, 'child');
    parent = await serveNode(root, parentDb, 'parent');
    child = await serveNode(root, childDb, 'child', [{ url: parent.url }], { MYCEL_BLOBS_EAGER_CHANNELS: 'lab:eager*' });
    for (const name of ['lab:data', 'lab:eager']) channels.set(name, await createChannel(parent.url, name));
    await store(lazy, 'lab:data');
    await store(eager, 'lab:eager');
  });
  after(async () => {
    await Promise.all([child?.stop(), parent?.stop()]);
  });

  const childGet = (hex: string): Promise<Response> => getBlob(child.url, hex);

  test('a blob of an eager channel is fetched when its post arrives, without a read', async () => {
    await until('the eager blob at the child', () => (existsSync(blobFile(childDb.dataDir, sha256(eager))) ? true : undefined), 60_000);
    const res = await childGet(sha256(eager));
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(eager));
  });

  test('other blobs stay at the parent until read at the child, then are fetched, verified and kept', async () => {
    // The post has arrived (the eager one came after it, on the same link) but not the bytes.
    await childHas('lab:data', 1);
    assert.equal(existsSync(blobFile(childDb.dataDir, sha256(lazy))), false, 'not fetched before a read');
    const res = await childGet(sha256(lazy));
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(lazy));
    assert.equal(existsSync(blobFile(childDb.dataDir, sha256(lazy))), true, 'kept at the child');
    // A blob neither node has is still BLOB_NOT_FOUND at the child.
    const none = await childGet('f'.repeat(64));
    assert.equal(none.status, 404);
  });

  test('mycel load without --from makes the node fetch from its servers', async () => {
    const more = randomBytes(10_000);
    await store(more, 'lab:data');
    const uri = `sha256://${sha256(more)}`;
    const env = { MYCEL_NODE_URL: child.url, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD };
    await childHas('lab:data', 2);
    const res = await runMycel(['load', uri], env);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`^${uri}`));
    assert.equal(existsSync(blobFile(childDb.dataDir, sha256(more))), true);
  });
});
