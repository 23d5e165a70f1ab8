// The node's identity across real `mycel` processes: first start, renames, owner passwords.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { request } from 'undici';
import { runMycel, startMycel } from '../helpers/process.js';

const dirs: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mycel-life-'));
  dirs.push(dir);
  return dir;
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function info(env: Record<string, string>): Promise<{ nodeId: string; name: string; ownerPasswordSet: boolean; schemaVersion: number; changeCount: number }> {
  const res = await runMycel(['info', '--json'], env);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout);
}

async function login(url: string, password: string): Promise<number> {
  const res = await request(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
  await res.body.dump();
  return res.statusCode;
}

test('a fresh start creates the node; a restart with another name keeps the first name', async () => {
  const dir = dataDir();
  const init = await runMycel(['init'], { MYCEL_DB_DIR: dir, MYCEL_NODE_NAME: 'first', MYCEL_OWNER_PASSWORD: 'pw-one-first' });
  assert.equal(init.code, 0, init.stderr);
  const first = await info({ MYCEL_DB_DIR: dir });
  assert.match(first.nodeId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'UUIDv7');
  assert.equal(first.name, 'first');
  assert.equal(first.ownerPasswordSet, true);
  assert.ok(first.schemaVersion >= 1);

  const node = await startMycel({ MYCEL_DB_DIR: dir, MYCEL_NODE_NAME: 'second', MYCEL_OWNER_PASSWORD: 'pw-one-first' });
  try {
    assert.ok(node.lines.some((l) => l.includes('ignoring the configured name') && l.includes('"configuredName":"second"')), node.lines.join('\n'));
    const res = await request(`${node.url}/api/v1/node`);
    const profile = (await res.body.json()) as { id: string; name: string };
    assert.deepEqual([profile.id, profile.name], [first.nodeId, 'first']);
  } finally {
    assert.equal((await node.stop('SIGTERM')).code, 0, 'graceful shutdown exits 0');
  }
  const again = await info({ MYCEL_DB_DIR: dir, MYCEL_NODE_NAME: 'third' });
  assert.deepEqual([again.nodeId, again.name], [first.nodeId, 'first']);
});

test('a wrong owner password stops the server with a clear message and a non-zero exit', async () => {
  const dir = dataDir();
  assert.equal((await runMycel(['init'], { MYCEL_DB_DIR: dir, MYCEL_OWNER_PASSWORD: 'right-password' })).code, 0);
  const res = await runMycel(['serve', '--port', '0'], { MYCEL_DB_DIR: dir, MYCEL_OWNER_PASSWORD: 'wrong-password' });
  assert.notEqual(res.code, 0);
  assert.equal(res.signal, null);
  assert.match(res.stderr, /OWNER_PASSWORD_MISMATCH/);
  assert.match(res.stderr, /owner password does not match/i);
  assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(res.stderr + res.stdout, /wrong|right/, 'the passwords never appear in output');
});

test('with no password stored, the configured one is set and then required', async () => {
  const dir = dataDir();
  assert.equal((await runMycel(['init'], { MYCEL_DB_DIR: dir })).code, 0);
  assert.equal((await info({ MYCEL_DB_DIR: dir })).ownerPasswordSet, false);

  const node = await startMycel({ MYCEL_DB_DIR: dir, MYCEL_OWNER_PASSWORD: 'now-set-password' });
  try {
    assert.equal(await login(node.url, 'now-set-password'), 201);
    assert.equal(await login(node.url, 'other'), 401);
  } finally {
    await node.stop();
  }
  assert.equal((await info({ MYCEL_DB_DIR: dir })).ownerPasswordSet, true);
  const wrong = await runMycel(['serve', '--port', '0'], { MYCEL_DB_DIR: dir, MYCEL_OWNER_PASSWORD: 'different-password' });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /OWNER_PASSWORD_MISMATCH/);
});
