// `mycel load --from` between real `mycel serve` processes: a blob moved from one node to
// another (and posted with --upload-to-channel), and a source that sends other bytes than the
// URI names refused with nothing stored. Without --from: blobs-network.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runMycel, startMycel, type ServingNode } from '../helpers/process.js';
import { catBytes, hex } from './blobs-cli-harness.js';
import { createChannel, getBlob, OWNER_PASSWORD, postsOf, putBlob } from './blobs-rest.js';
import { cliChecks, SERVE_ENV } from './remote-cli-harness.js';

const { ok, fails } = cliChecks([OWNER_PASSWORD]);
const root = mkdtempSync(join(tmpdir(), 'mycel-blobs-load-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('mycel load', () => {
  let a: ServingNode;
  let b: ServingNode;
  let liar: Server;
  let liarUrl: string;
  const atA = () => ({ MYCEL_NODE_URL: a.url, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });

  before(async () => {
    [a, b] = await Promise.all([
      startMycel({ MYCEL_DATA_DIR: join(root, 'a'), MYCEL_OWNER_PASSWORD: OWNER_PASSWORD, ...SERVE_ENV }),
      startMycel({ MYCEL_DATA_DIR: join(root, 'b'), MYCEL_OWNER_PASSWORD: OWNER_PASSWORD, ...SERVE_ENV }),
    ]);
  });
  after(async () => {
    liar?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  test('load --from another node stores the blob here, and --upload-to-channel posts it', async () => {
    const channelId = await createChannel(a.url, 'lab:files');
    const bytes = randomBytes(50_000);
    const { sha256: uri } = await putBlob(b.url, bytes);
    const out = ok(await runMycel(['load', uri, '--from', b.url, '--upload-to-channel', 'lab:files'], { ...atA(), MYCEL_FROM_OWNER_PASSWORD: OWNER_PASSWORD }), 'load');
    assert.equal(out, `sha256://${hex('sha256', bytes)} sha1://${hex('sha1', bytes)}\n`);
    const cat = await catBytes(['cat', `sha1://${hex('sha1', bytes)}`], atA());
    assert.equal(cat.code, 0, cat.stderr);
    assert.ok(cat.stdout.equals(bytes));
    const posts = await postsOf(a.url, channelId);
    assert.equal(posts.at(-1)!.meta.blob?.sha256, uri);
    // A wrong password at --from is that node's refusal, named.
    fails(await runMycel(['load', uri, '--from', b.url], { ...atA(), MYCEL_FROM_OWNER_PASSWORD: 'wrong-password' }), 'INVALID_CREDENTIALS', 'wrong --from password');
  });

  test('a source that sends other bytes than the URI names: BLOB_HASH_MISMATCH, nothing stored', async () => {
    const claimed = randomBytes(2000);
    const sent = randomBytes(2000);
    // Plays a node that answers a log-in and then serves the wrong bytes: what a broken or hostile peer does.
    liar = createServer((req, res) => {
      if (req.method === 'POST' && req.url === '/api/v1/session') {
        req.resume();
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'liar-token', expiresAt: Date.now() + 60_000 }));
      } else if (req.method === 'GET' && req.url?.startsWith('/api/v1/blobs/')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(sent.length) }).end(sent);
      } else res.writeHead(204).end();
    });
    liar.listen(0, '127.0.0.1');
    await once(liar, 'listening');
    liarUrl = `http://127.0.0.1:${(liar.address() as { port: number }).port}`;
    fails(await runMycel(['load', `sha256://${hex('sha256', claimed)}`, '--from', liarUrl], { ...atA(), MYCEL_FROM_OWNER_PASSWORD: 'any' }), 'BLOB_HASH_MISMATCH', 'load from liar');
    assert.equal((await getBlob(a.url, hex('sha256', sent), 'HEAD')).status, 404, 'the sent bytes were not kept');
    assert.equal((await getBlob(a.url, hex('sha256', claimed), 'HEAD')).status, 404, 'nor anything under the claimed name');
  });
});
