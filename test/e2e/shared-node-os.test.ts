// A lab's shared node as a real OS setup (docs/shared-node.md): as root, the test creates a group
// and two system users (a member of the group and another user), starts `mycel serve --auth-group`
// as a child process, and runs the CLI as each user. The member reads blobs straight from the
// storage directory (the node's blob GET routes are not asked: their request counter stays put)
// and stores with the group's token; the other user can read neither the token nor a blob file,
// and its CLI fails with CLIENT_TOKEN_UNREADABLE. Skipped (with the reason) when not root, or
// without useradd/groupadd/setpriv.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { cleanEnv, mycelArgv, runMycel, runProcess, startMycel, type ProcessRun, type ServingNode } from '../helpers/process.js';
import { hex } from './blobs-cli-harness.js';

const OWNER_PASSWORD = 'owner-secret-shared-os';
const repo = fileURLToPath(new URL('../..', import.meta.url));

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function skipReason(): string | false {
  if (process.platform !== 'linux') return 'needs Linux (groups, setgid directories, setpriv)';
  if (process.getuid?.() !== 0) return 'needs root to create a group and two users (CI runs as root)';
  const missing = ['useradd', 'userdel', 'groupadd', 'groupdel', 'setpriv', 'getent'].filter((c) => !hasCommand(c));
  return missing.length > 0 ? `needs ${missing.join(', ')}` : false;
}

const skip = skipReason();
const id = randomBytes(3).toString('hex');
const GROUP = `mycel-lab-${id}`;
const MEMBER = `mycel-m-${id}`;
const OTHER = `mycel-o-${id}`;

/** Runs `argv` as `user` (its uid, primary gid and groups, through setpriv), env as given (nothing of ours inherited). */
async function runAs(user: string, argv: string[], env: Record<string, string>): Promise<ProcessRun> {
  const uid = execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim();
  const gid = execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim();
  return runProcess('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--', ...argv], { cwd: repo, env: cleanEnv(env), timeoutMs: 60_000 });
}

const mycelAs = (user: string, args: string[], env: Record<string, string>): Promise<ProcessRun> => runAs(user, [...mycelArgv(), ...args], env);

/** GET and HEAD requests the node answered on its blob read routes, from /metrics. */
async function blobReads(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^mycel_http_requests_total\{([^}]*)\} (\d+)/.exec(line);
    if (m && /method="(GET|HEAD)"/.test(m[1]!) && /route="\/api\/v1\/blobs\/:/.test(m[1]!)) total += Number(m[2]);
  }
  return total;
}

function quietly(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    // Cleanup of what may not exist (a failed setup); the rest still runs.
  }
}

describe('a shared node as a real OS setup: group, member, other user', { skip }, () => {
  let root: string;
  let shared: string;
  let node: ServingNode;
  const small = randomBytes(100_000);
  const large = randomBytes(9 * 1024 * 1024);
  const memberEnv = () => ({ MYCEL_NODE_URL: node.url, MYCEL_STORAGE_DIR: shared, HOME: root });

  before(async () => {
    execFileSync('groupadd', [GROUP]);
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--groups', GROUP, MEMBER]);
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', OTHER]);
    // The CLI runs from this checkout as the users: it must be readable to them (a clone made with umask 022 is).
    for (const user of [MEMBER, OTHER]) {
      const check = await runAs(user, ['sh', '-c', 'test -r src/cli/index.ts && test -r node_modules/tsx/package.json && test -x "$0"', process.execPath], {});
      assert.equal(check.code, 0, `${user} cannot read the checkout ${repo} or run ${process.execPath}: the test runs the CLI from it as other users`);
    }
    root = mkdtempSync(join(tmpdir(), 'mycel-shared-os-'));
    // Others may pass through (not list) the test's directory, to reach the shared store in it.
    chmodSync(root, 0o711);
    shared = join(root, 'shared');
    node = await startMycel(
      { MYCEL_DATA_DIR: join(root, 'data'), MYCEL_OWNER_PASSWORD: OWNER_PASSWORD, MYCEL_LOG_LEVEL: 'info' },
      ['--auth-group', GROUP, '--storage-dir', shared],
    );
    for (const [name, bytes] of [['small.bin', small], ['large.bin', large]] as const) {
      writeFileSync(join(root, name), bytes);
      const res = await runMycel(['store', join(root, name)], { MYCEL_NODE_URL: node.url, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });
      assert.equal(res.code, 0, res.stderr);
    }
  });

  after(async () => {
    await node?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
    for (const user of [MEMBER, OTHER]) {
      quietly('userdel', [user]);
      quietly('groupdel', [user]); // the user's own group, where useradd made one
    }
    quietly('groupdel', [GROUP]);
  });

  test('the store, node-id and token belong to the group; the data directory does not', () => {
    const gid = Number(execFileSync('getent', ['group', GROUP], { encoding: 'utf8' }).split(':')[2]);
    for (const name of ['', 'node-id', 'client-token', 'sha256']) {
      const s = statSync(join(shared, name));
      assert.equal(s.gid, gid, name);
      assert.equal(s.mode & 0o7777, s.isDirectory() ? 0o2750 : 0o640, name);
    }
    assert.equal(statSync(join(root, 'data')).mode & 0o077, 0);
  });

  test('the member cats blobs straight from the mount, by sha256 and sha1, small and large; the node serves no blob read', async () => {
    const reads = await blobReads(node.url);
    for (const [uri, bytes] of [
      [`sha256://${hex('sha256', small)}`, small],
      [`sha1://${hex('sha1', small)}`, small],
      [`sha256://${hex('sha256', large)}`, large],
    ] as const) {
      const res = await mycelAs(MEMBER, ['cat', uri], memberEnv());
      assert.equal(res.code, 0, res.stderr);
      assert.ok(res.stdout.equals(bytes), uri);
      assert.equal(res.stderr, '', 'no notes, no password prompt');
    }
    assert.equal(await blobReads(node.url), reads, 'every byte came from the mount');
  });

  test('the member stores with the group token (no password); the new blob is readable by the group', async () => {
    const bytes = randomBytes(5000);
    const file = join(root, 'member.bin');
    writeFileSync(file, bytes);
    chmodSync(file, 0o644);
    const res = await mycelAs(MEMBER, ['store', file], memberEnv());
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout.toString(), new RegExp(`^sha256://${hex('sha256', bytes)} `));
    const sha = hex('sha256', bytes);
    const path = join(shared, 'sha256', sha.slice(0, 2), sha.slice(2, 4), sha);
    assert.equal(statSync(path).mode & 0o777, 0o640);
    const back = await mycelAs(MEMBER, ['cat', `sha256://${sha}`], memberEnv());
    assert.equal(back.code, 0, back.stderr);
    assert.ok(back.stdout.equals(bytes));
  });

  test('the other user can read neither the token nor a blob file, nor the database; its CLI fails with CLIENT_TOKEN_UNREADABLE', async () => {
    const sha = hex('sha256', small);
    for (const path of [join(shared, 'client-token'), join(shared, 'node-id'), join(shared, 'sha256', sha.slice(0, 2), sha.slice(2, 4), sha)]) {
      const res = await runAs(OTHER, ['cat', path], {});
      assert.notEqual(res.code, 0, path);
      assert.match(res.stderr, /Permission denied/, path);
    }
    const db = await runAs(MEMBER, ['sh', '-c', `ls ${join(root, 'data')}`], {});
    assert.notEqual(db.code, 0, 'not even a member lists the data directory');
    const res = await mycelAs(OTHER, ['cat', `sha256://${sha}`], memberEnv());
    assert.equal(res.code, 1);
    assert.equal(res.stdout.length, 0);
    assert.match(res.stderr, /^error CLIENT_TOKEN_UNREADABLE: Cannot read .*node-id: permission denied/m);
  });

  test('without the mount the CLI goes over HTTP (a blob read at the node), with the usual log-in', async () => {
    const reads = await blobReads(node.url);
    const res = await mycelAs(MEMBER, ['cat', `sha256://${hex('sha256', small)}`], { ...memberEnv(), MYCEL_STORAGE_DIR: join(root, 'not-mounted'), MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });
    assert.equal(res.code, 0, res.stderr);
    assert.ok(res.stdout.equals(small));
    assert.equal(await blobReads(node.url), reads + 1);
  });

  test("a storage directory naming another node is not trusted: a note, and HTTP with the usual log-in", async () => {
    const other = join(root, 'other-mount');
    mkdirSync(other);
    writeFileSync(join(other, 'node-id'), '01890000-0000-7000-8000-000000000000\n');
    writeFileSync(join(other, 'client-token'), readFileSync(join(shared, 'client-token')));
    chmodSync(other, 0o755);
    for (const f of ['node-id', 'client-token']) chmodSync(join(other, f), 0o644);
    const reads = await blobReads(node.url);
    const res = await mycelAs(MEMBER, ['cat', `sha256://${hex('sha256', small)}`], { ...memberEnv(), MYCEL_STORAGE_DIR: other, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });
    assert.equal(res.code, 0, res.stderr);
    assert.ok(res.stdout.equals(small));
    assert.match(res.stderr, /^note: .*node-id names node 01890000-0000-7000-8000-000000000000, but .* is node /m);
    assert.equal(await blobReads(node.url), reads + 1);
  });
});
