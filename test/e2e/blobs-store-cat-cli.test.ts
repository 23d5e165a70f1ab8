// `mycel store` and `mycel cat` against a real `mycel serve` process: URIs printed, bytes back
// unchanged, a post referring to each blob with --channel. The local node's address, a closed
// pipe: blobs-cli-local.test.ts; `mycel load`: blobs-load-cli.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runMycel, startMycel, type ServingNode } from '../helpers/process.js';
import { catBytes, fileIn, hex } from './blobs-cli-harness.js';
import { createChannel, OWNER_PASSWORD, postsOf } from './blobs-rest.js';
import { cliChecks, SERVE_ENV } from './remote-cli-harness.js';

const { ok, fails } = cliChecks([OWNER_PASSWORD]);
const root = mkdtempSync(join(tmpdir(), 'mycel-blobs-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('mycel store and cat', () => {
  let a: ServingNode;
  const atA = () => ({ MYCEL_NODE_URL: a.url, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });
  before(async () => {
    a = await startMycel({ MYCEL_DATA_DIR: join(root, 'a'), MYCEL_OWNER_PASSWORD: OWNER_PASSWORD, ...SERVE_ENV });
  });
  after(async () => {
    await a?.stop();
  });

  test('store prints the sha256 and sha1 URIs per file; cat gives the bytes back by either', async () => {
    const one = randomBytes(1000);
    const two = Buffer.from('second file\n');
    const out = ok(await runMycel(['store', fileIn(root, 'one.bin', one), fileIn(root, 'two.txt', two)], atA()), 'store');
    assert.deepEqual(out.trimEnd().split('\n'), [
      `sha256://${hex('sha256', one)} sha1://${hex('sha1', one)} ${join(root, 'one.bin')}`,
      `sha256://${hex('sha256', two)} sha1://${hex('sha1', two)} ${join(root, 'two.txt')}`,
    ]);
    for (const uri of [`sha256://${hex('sha256', one)}`, `sha1://${hex('sha1', one)}`]) {
      const cat = await catBytes(['cat', uri], atA());
      assert.equal(cat.code, 0, cat.stderr);
      assert.ok(cat.stdout.equals(one), `cat ${uri}`);
    }
    fails(await runMycel(['cat', `sha256://${'0'.repeat(64)}`], atA()), 'BLOB_NOT_FOUND', 'cat unknown');
    fails(await runMycel(['store', join(root, 'no-such-file')], atA()), 'VALIDATION_FAILED', 'store missing file');
  });

  test('store --channel writes a post referring to each blob', async () => {
    const channelId = await createChannel(a.url, 'lab:files');
    const bytes = Buffer.from('posted blob');
    const res = await runMycel(['store', fileIn(root, 'posted.txt', bytes), '--channel', 'lab:files'], atA());
    ok(res, 'store --channel');
    assert.match(res.stderr, /posted #1 in lab:files/);
    const posts = await postsOf(a.url, channelId);
    assert.equal(posts.length, 1);
    assert.deepEqual(posts[0]!.meta.blob, { sha256: `sha256://${hex('sha256', bytes)}`, sha1: `sha1://${hex('sha1', bytes)}`, size: bytes.length, mediaType: 'application/octet-stream', name: 'posted.txt' });
    assert.match(posts[0]!.body, new RegExp(`sha256://${hex('sha256', bytes)}`));
    assert.deepEqual(posts[0]!.blobRefs, [`sha256://${hex('sha256', bytes)}`, `sha1://${hex('sha1', bytes)}`]);
  });
});
