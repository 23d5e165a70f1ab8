// The CLI against a real `mycel serve --auth-group` process, as any user (the group is the test
// process's own): reads through the mount are hash-checked (damaged bytes are BLOB_CORRUPT, exit
// 1, and a small blob writes nothing), a blob missing from the mount or no mount at all goes over
// HTTP, and an unknown group stops `mycel serve` with its code, not a stack trace. The multi-user
// setup: shared-node-os.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runMycel, startMycel, type ServingNode } from '../helpers/process.js';
import { catBytes, hex } from './blobs-cli-harness.js';

const OWNER_PASSWORD = 'owner-secret-shared-cli';
const root = mkdtempSync(join(tmpdir(), 'mycel-shared-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function blobReads(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^mycel_http_requests_total\{([^}]*)\} (\d+)/.exec(line);
    if (m && /method="(GET|HEAD)"/.test(m[1]!) && /route="\/api\/v1\/blobs\/:/.test(m[1]!)) total += Number(m[2]);
  }
  return total;
}

const pathOf = (dir: string, sha256: string): string => join(dir, 'sha256', sha256.slice(0, 2), sha256.slice(2, 4), sha256);

describe('the CLI on a shared node, one user', () => {
  let node: ServingNode;
  const shared = join(root, 'shared');
  const mountEnv = () => ({ MYCEL_NODE_URL: node.url, MYCEL_STORAGE_DIR: shared });
  const store = async (bytes: Buffer): Promise<string> => {
    const file = join(root, `${hex('sha256', bytes)}.bin`);
    writeFileSync(file, bytes);
    const res = await runMycel(['store', file], mountEnv());
    assert.equal(res.code, 0, res.stderr);
    return hex('sha256', bytes);
  };

  before(async () => {
    node = await startMycel({ MYCEL_DATA_DIR: join(root, 'data'), MYCEL_OWNER_PASSWORD: OWNER_PASSWORD, MYCEL_AUTH_GROUP: String(process.getgid!()), MYCEL_STORAGE_DIR: shared });
  });
  after(async () => {
    await node?.stop();
  });

  test('store takes the token from the mount (no password); cat reads the mount', async () => {
    const bytes = randomBytes(3000);
    const sha = await store(bytes);
    const reads = await blobReads(node.url);
    const cat = await catBytes(['cat', `sha256://${sha}`], mountEnv());
    assert.equal(cat.code, 0, cat.stderr);
    assert.ok(cat.stdout.equals(bytes));
    // The node named by MYCEL_HOST + MYCEL_PORT, as for a local daemon, works the same.
    const { hostname, port } = new URL(node.url);
    const byHost = await catBytes(['cat', `sha256://${sha}`], { MYCEL_HOST: hostname, MYCEL_PORT: port, MYCEL_STORAGE_DIR: shared });
    assert.equal(byHost.code, 0, byHost.stderr);
    assert.ok(byHost.stdout.equals(bytes));
    assert.equal(await blobReads(node.url), reads);
  });

  test('damaged bytes on the mount: BLOB_CORRUPT, exit 1; a small blob writes nothing, a large one is cut before its end', async () => {
    for (const size of [4096, 9 * 1024 * 1024]) {
      const bytes = randomBytes(size);
      const sha = await store(bytes);
      const damaged = Buffer.from(bytes);
      damaged[size - 1] = damaged[size - 1]! ^ 0xff;
      writeFileSync(pathOf(shared, sha), damaged);
      const cat = await catBytes(['cat', `sha256://${sha}`], mountEnv());
      assert.equal(cat.code, 1, `${size}: ${cat.stderr}`);
      assert.match(cat.stderr, /^error BLOB_CORRUPT: The file of sha256:\/\/[0-9a-f]{64} in the storage directory does not hash to its name/m);
      if (size <= 8 * 1024 * 1024) assert.equal(cat.stdout.length, 0, 'nothing written');
      else assert.ok(cat.stdout.length < size, 'never the whole (damaged) blob');
    }
  });

  test('a blob missing from the mount, or no mount: over HTTP', async () => {
    const bytes = randomBytes(1000);
    const sha = await store(bytes);
    const saved = readFileSync(pathOf(shared, sha));
    // Not on the mount (which is the node's store: the node lacks it too): the CLI asks the node, with the token.
    rmSync(pathOf(shared, sha));
    let reads = await blobReads(node.url);
    const missing = await catBytes(['cat', `sha256://${sha}`], mountEnv());
    assert.equal(missing.code, 1, 'neither mount nor node has it');
    assert.match(missing.stderr, /BLOB_NOT_FOUND/);
    assert.equal(await blobReads(node.url), reads + 1, 'asked the node with the token');
    writeFileSync(pathOf(shared, sha), saved);

    reads = await blobReads(node.url);
    const noMount = await catBytes(['cat', `sha256://${sha}`], { MYCEL_NODE_URL: node.url, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });
    assert.equal(noMount.code, 0, noMount.stderr);
    assert.ok(noMount.stdout.equals(bytes));
    const absent = await catBytes(['cat', `sha256://${sha}`], { MYCEL_NODE_URL: node.url, MYCEL_STORAGE_DIR: join(root, 'absent'), MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });
    assert.equal(absent.code, 0, absent.stderr);
    assert.ok(absent.stdout.equals(bytes));
    assert.equal(absent.stderr, '', 'an absent mount is passed over in silence');
    assert.equal(await blobReads(node.url), reads + 2);
  });
});

test('mycel serve --auth-group with an unknown group: error AUTH_GROUP_UNKNOWN and a hint, exit 1, no stack trace', async () => {
  const res = await runMycel(['serve', '--port', '0', '--auth-group', 'mycel-no-such-group-x', '--storage-dir', join(root, 's2')], { MYCEL_DATA_DIR: join(root, 'd2'), MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, /^error AUTH_GROUP_UNKNOWN: There is no OS group "mycel-no-such-group-x"/m);
  assert.match(res.stderr, /^hint: create the group \(groupadd mycel-no-such-group-x\)/m);
  assert.doesNotMatch(res.stderr, /\n\s+at /);
});
