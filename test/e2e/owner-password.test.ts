// `mycel owner set-password` on real processes: with the current password or by recovery,
// beside a running node whose owner sessions end, and what a stale MYCEL_OWNER_PASSWORD does.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { request } from 'undici';
import { runMycel, startMycel, type CliResult } from '../helpers/process.js';

const root = mkdtempSync(join(tmpdir(), 'mycel-owner-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function login(url: string, password: string): Promise<{ status: number; token?: string }> {
  const res = await request(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
  const body = (await res.body.json()) as { token?: string };
  return { status: res.statusCode, ...(body.token === undefined ? {} : { token: body.token }) };
}

/** Status of an owner-only read with this bearer token. */
async function ownerRead(url: string, token: string): Promise<number> {
  const res = await request(`${url}/api/v1/changes`, { headers: { authorization: `Bearer ${token}` } });
  await res.body.dump();
  return res.statusCode;
}

function assertFails(res: CliResult, code: string, hint: RegExp): void {
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, new RegExp(`^error ${code}: `));
  assert.match(res.stderr, hint);
  assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
}

test('with the current password, beside a running node: owner sessions end, the new password logs in', async () => {
  const dir = join(root, 'change');
  const env = { MYCEL_DATA_DIR: dir };
  assert.equal((await runMycel(['init'], { ...env, MYCEL_OWNER_PASSWORD: 'first-password' })).code, 0);
  const node = await startMycel(env);
  try {
    const before = await login(node.url, 'first-password');
    assert.equal(before.status, 201);
    assert.equal(await ownerRead(node.url, before.token!), 200);

    assertFails(
      await runMycel(['owner', 'set-password'], env, 30_000, 'not-the-password\nsecond-password\n'),
      'INVALID_CREDENTIALS',
      /hint: .*mycel owner set-password --recover/,
    );
    assert.equal(await ownerRead(node.url, before.token!), 200, 'a refused change ends nothing');
    assertFails(await runMycel(['owner', 'set-password'], env, 30_000, 'first-password\nshort\n'), 'VALIDATION_FAILED', /at least 8 characters/);

    const changed = await runMycel(['owner', 'set-password'], env, 30_000, 'first-password\nsecond-password\n');
    assert.equal(changed.code, 0, changed.stderr);
    assert.equal(changed.stdout, 'owner password changed; 1 owner session ended\n');
    assert.equal(await ownerRead(node.url, before.token!), 401, 'the old session ended');
    assert.equal((await login(node.url, 'first-password')).status, 401);
    assert.equal((await login(node.url, 'second-password')).status, 201);
  } finally {
    await node.stop();
  }
});

test('recovery without the current password; a configured old password then stops serve with a hint', async () => {
  const dir = join(root, 'recover');
  const old = { MYCEL_DATA_DIR: dir, MYCEL_OWNER_PASSWORD: 'forgotten-password' };
  assert.equal((await runMycel(['init'], old)).code, 0);

  const recovered = await runMycel(['owner', 'set-password', '--recover'], old, 30_000, 'recovered-password\n');
  assert.equal(recovered.code, 0, recovered.stderr);
  assert.match(recovered.stdout, /^owner password changed; 0 owner sessions ended\n$/);
  assert.match(recovered.stderr, /warning: owner\.password \(MYCEL_OWNER_PASSWORD\) is configured and differs from the new password/);

  const stale = await runMycel(['serve', '--port', '0'], old);
  assertFails(stale, 'OWNER_PASSWORD_MISMATCH', /hint: owner\.password \(MYCEL_OWNER_PASSWORD\) only sets the first password: unset it, or set it to the current one/);

  const node = await startMycel({ MYCEL_DATA_DIR: dir, MYCEL_OWNER_PASSWORD: 'recovered-password' });
  try {
    assert.equal((await login(node.url, 'recovered-password')).status, 201);
  } finally {
    await node.stop();
  }
});

test('on a data dir without a node it fails with NODE_NOT_INITIALIZED and creates nothing', async () => {
  const dir = join(root, 'absent');
  assertFails(await runMycel(['owner', 'set-password', '--recover'], { MYCEL_DATA_DIR: dir }, 30_000, 'some-new-password\n'), 'NODE_NOT_INITIALIZED', /hint: /);
  assert.equal(existsSync(dir), false);
});
