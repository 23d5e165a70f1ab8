// `mycel nodes add|list|set|remove` on real processes, beside a running `mycel serve`: the
// node registered on the command line logs in over HTTP, uses its token on REST and as a
// realtime connect token; a new password or removal ends its sessions; bad input is refused
// with its code and a hint; a password is never taken as an argument.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { request } from 'undici';
import WebSocket from 'ws';
import { runMycel, startMycel, type CliResult } from '../helpers/process.js';

const root = mkdtempSync(join(tmpdir(), 'mycel-nodes-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function nodeLogin(url: string, nodeId: string, password: string): Promise<{ status: number; token?: string; code?: string }> {
  const res = await request(`${url}/api/v1/nodes/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nodeId, password }) });
  const body = (await res.body.json()) as { token?: string; error?: { code: string } };
  return { status: res.statusCode, ...(body.token ? { token: body.token } : {}), ...(body.error ? { code: body.error.code } : {}) };
}

async function whoAmI(url: string, token: string): Promise<{ status: number; body: unknown }> {
  const res = await request(`${url}/api/v1/session`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.statusCode, body: await res.body.json() };
}

/** The first reply to a realtime connect with this token. */
async function realtimeConnect(url: string, token: string): Promise<Record<string, unknown>> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/connection/websocket`);
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no connect reply in 5 s')), 5000);
      ws.once('open', () => ws.send(JSON.stringify({ id: 1, connect: { token } })));
      ws.once('message', (data: Buffer) => {
        clearTimeout(timer);
        resolve(JSON.parse(data.toString('utf8').split('\n')[0]!) as Record<string, unknown>);
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  } finally {
    ws.terminate();
  }
}

function assertFails(res: CliResult, code: string, hint?: RegExp): void {
  assert.equal(res.code, 1, res.stderr);
  assert.match(res.stderr, new RegExp(`^error ${code}: `));
  if (hint) assert.match(res.stderr, hint);
  assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
}

test('mycel nodes beside a running node: add, log in, list, set, remove', async () => {
  const dir = join(root, 'serving');
  const env = { MYCEL_DATA_DIR: dir };
  assert.equal((await runMycel(['init'], { ...env, MYCEL_OWNER_PASSWORD: 'owner-password-1' })).code, 0);
  const node = await startMycel(env);
  try {
    const id = randomUUID();
    const added = await runMycel(['nodes', 'add', id, '--password-stdin', '--role', 'both', '--channels', 'lab:*,news'], env, 30_000, 'node-password-1\n');
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, `registered node ${id}: role both, read-only, no owner rights, channels lab:*,news\n`);

    const login = await nodeLogin(node.url, id, 'node-password-1');
    assert.equal(login.status, 201);
    assert.deepEqual(await whoAmI(node.url, login.token!), { status: 200, body: { actor: { kind: 'node', nodeId: id, asOwner: false }, source: 'bearer' } });
    const connected = await realtimeConnect(node.url, login.token!);
    assert.ok(connected.connect, `realtime connect with a node token: ${JSON.stringify(connected)}`);
    assert.deepEqual(await nodeLogin(node.url, id, 'wrong-password'), { status: 401, code: 'INVALID_CREDENTIALS' });
    assert.deepEqual(await nodeLogin(node.url, randomUUID(), 'node-password-1'), { status: 401, code: 'INVALID_CREDENTIALS' });

    const listed = await runMycel(['nodes', 'list', '--json'], env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.doesNotMatch(listed.stdout, /scrypt|passwordHash|node-password/);
    const items = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(items.map((n) => [n.id, n.role, n.writeAccess, n.asOwner, n.channels]), [[id, 'both', 'read-only', false, ['lab:*', 'news']]]);
    const table = await runMycel(['nodes', 'list'], env);
    assert.match(table.stdout, /^ID\s+ROLE\s+ACCESS\s+OWNER\s+CHANNELS\s+REGISTERED\n/);
    assert.match(table.stdout, new RegExp(`^${id}\\s+both\\s+read-only\\s+no\\s+lab:\\*,news\\s`, 'm'));

    // Rights change without ending the session; the server reads them at the next request.
    const granted = await runMycel(['nodes', 'set', id, '--owner', '--read-write', '--channels', '*'], env);
    assert.equal(granted.stdout, `changed node ${id}: role both, read-write, owner rights, all channels\n`, granted.stderr);
    assert.deepEqual((await whoAmI(node.url, login.token!)).body, { actor: { kind: 'node', nodeId: id, asOwner: true }, source: 'bearer' });

    const repassed = await runMycel(['nodes', 'set', id, '--password-stdin'], env, 30_000, 'node-password-2\n');
    assert.equal(repassed.code, 0, repassed.stderr);
    assert.match(repassed.stdout, /; 1 session ended\n$/);
    assert.equal((await whoAmI(node.url, login.token!)).status, 401, 'the session under the old password ended');
    assert.equal((await nodeLogin(node.url, id, 'node-password-1')).status, 401);
    const second = await nodeLogin(node.url, id, 'node-password-2');
    assert.equal(second.status, 201);

    assertFails(await runMycel(['nodes', 'add', id, '--password-stdin'], env, 30_000, 'node-password-3\n'), 'NODE_EXISTS', /hint: .*mycel nodes set/);

    const removed = await runMycel(['nodes', 'remove', id], env);
    assert.equal(removed.stdout, `removed node ${id}; 1 session ended\n`, removed.stderr);
    assert.equal((await whoAmI(node.url, second.token!)).status, 401);
    assert.deepEqual(await nodeLogin(node.url, id, 'node-password-2'), { status: 401, code: 'INVALID_CREDENTIALS' });
    assertFails(await runMycel(['nodes', 'remove', id], env), 'NODE_NOT_FOUND', /hint: .*mycel nodes list/);
  } finally {
    await node.stop();
  }
});

test('mycel nodes refuses bad input with its code, and takes no password as an argument', async () => {
  const dir = join(root, 'refusals');
  const env = { MYCEL_DATA_DIR: dir };
  assertFails(await runMycel(['nodes', 'list'], env), 'NODE_NOT_INITIALIZED');
  assert.equal((await runMycel(['init'], env)).code, 0);
  const id = randomUUID();
  assertFails(await runMycel(['nodes', 'add', 'not-a-uuid', '--password-stdin'], env, 30_000, 'node-password-1\n'), 'VALIDATION_FAILED', /nodeId: must be a UUID/);
  assertFails(await runMycel(['nodes', 'add', id, '--password-stdin'], env, 30_000, 'short\n'), 'VALIDATION_FAILED', /at least 8 characters/);
  assertFails(await runMycel(['nodes', 'add', id, '--password-stdin'], env, 30_000, ''), 'VALIDATION_FAILED', /Standard input ended/);
  assertFails(await runMycel(['nodes', 'add', id, '--password-stdin', '--channels', 'a b'], env, 30_000, 'node-password-1\n'), 'VALIDATION_FAILED', /channels/);
  const roleRefused = await runMycel(['nodes', 'add', id, '--role', 'sibling'], env);
  assert.notEqual(roleRefused.code, 0);
  assert.match(roleRefused.stderr, /Allowed choices are child, parent, both/);
  const asArgument = await runMycel(['nodes', 'add', id, 'node-password-1'], env);
  assert.notEqual(asArgument.code, 0, 'a password given as an argument is refused');
  assert.match(asArgument.stderr, /too many arguments/);
  const both = await runMycel(['nodes', 'set', id, '--read-write', '--read-only'], env);
  assertFails(both, 'VALIDATION_FAILED', /not both/);
  assert.equal((await runMycel(['nodes', 'list'], env)).stdout, 'no client nodes registered\n', 'nothing was registered');

  const help = await runMycel(['nodes', '--help'], env);
  assert.equal(help.code, 0);
  for (const sub of ['add', 'list', 'set', 'remove']) assert.match(help.stdout, new RegExp(`^  ${sub} `, 'm'));
  const addHelp = await runMycel(['nodes', 'add', '--help'], env);
  for (const flag of ['--password-stdin', '--role <role>', '--owner', '--read-write', '--channels <list>']) assert.ok(addHelp.stdout.includes(flag), flag);
});
