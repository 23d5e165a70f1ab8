// `mycel store` without --node reaches the local node at server.host and server.port, and
// `mycel cat` into a pipe its reader closes early ends quietly with exit 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cleanEnv, mycelArgv, runMycel, startMycel, type ServingNode } from '../helpers/process.js';
import { fileIn, hex } from './blobs-cli-harness.js';
import { getBlob, OWNER_PASSWORD, putBlob } from './blobs-rest.js';
import { cliChecks, SERVE_ENV } from './remote-cli-harness.js';

const { ok } = cliChecks([OWNER_PASSWORD]);
const root = mkdtempSync(join(tmpdir(), 'mycel-blobs-cli-local-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('blob CLI on the local node and into a closed pipe', () => {
  let a: ServingNode;
  const dataDir = join(root, 'a');
  before(async () => {
    a = await startMycel({ MYCEL_DATA_DIR: dataDir, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD, ...SERVE_ENV });
  });
  after(async () => {
    await a?.stop();
  });

  test('without --node, store uses the local node at server.host and server.port', async () => {
    const bytes = Buffer.from('via the configured address');
    const env = { MYCEL_DATA_DIR: dataDir, MYCEL_HOST: '127.0.0.1', MYCEL_PORT: new URL(a.url).port, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD };
    const out = ok(await runMycel(['store', fileIn(root, 'local.txt', bytes)], env), 'store locally');
    assert.match(out, new RegExp(`^sha256://${hex('sha256', bytes)} `));
    const res = await getBlob(a.url, hex('sha256', bytes));
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
  });

  test('cat into a pipe closed early ends quietly with exit 0', async () => {
    const big = randomBytes(8 * 1024 * 1024);
    const { sha256 } = await putBlob(a.url, big);
    const [bin, ...pre] = mycelArgv();
    const child = spawn(bin!, [...pre, 'cat', sha256], { env: cleanEnv({ MYCEL_NODE_URL: a.url, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD }), stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = once(child, 'close') as Promise<[number | null]>;
    const [first] = (await once(child.stdout, 'data')) as [Buffer];
    assert.ok(first.subarray(0, 10).equals(big.subarray(0, 10)));
    child.stdout.destroy(); // the reader goes, as `| head -c 10` does
    const [code] = await exited;
    clearTimeout(timer);
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /error|EPIPE/i);
  });
});
