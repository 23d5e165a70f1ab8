// Remote administration on real processes: `mycel --node URL …` (and MYCEL_NODE_URL) runs info,
// digest, nodes, channels and posts on a running `mycel serve` as its owner (password from
// MYCEL_OWNER_PASSWORD or standard input); a wrong password is INVALID_CREDENTIALS, a closed port
// NODE_UNREACHABLE with the URL; no password ever shows in the output. As client nodes:
// remote-admin-nodes.test.ts; linking nodes at run time: network-admin.test.ts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runMycel, startMycel, type ServingNode } from '../helpers/process.js';
import { cliChecks, closedPort, initNode, SERVE_ENV } from './remote-cli-harness.js';

const OWNER_PASSWORD = 'remote-owner-pw-1';
const ADMIN_NODE_PASSWORD = 'remote-admin-node-pw';
const PLAIN_NODE_PASSWORD = 'remote-plain-node-pw';
const SECRETS = [OWNER_PASSWORD, ADMIN_NODE_PASSWORD, PLAIN_NODE_PASSWORD];

const root = mkdtempSync(join(tmpdir(), 'mycel-remote-'));
after(() => rmSync(root, { recursive: true, force: true }));


const { ok, fails } = cliChecks(SECRETS);

describe('mycel --node against a running node', () => {
  const dir = join(root, 'served');
  let node: ServingNode;
  let nodeId = '';
  const adminId = randomUUID();
  const plainId = randomUUID();
  /** As the remote node's owner, the password from the environment. */
  const asOwner = () => ({ MYCEL_OWNER_PASSWORD: OWNER_PASSWORD });
  const remote = (args: string[], env: Record<string, string> = asOwner(), input?: string) => runMycel(['--node', node.url, ...args], env, 30_000, input);

  before(async () => {
    nodeId = await initNode(dir, OWNER_PASSWORD);
    node = await startMycel({ MYCEL_DATA_DIR: dir, ...SERVE_ENV });
  });
  after(async () => {
    await node?.stop();
  });

  test('as the owner: info, channels, posts, nodes and digest, the same as the node says locally', async () => {
    const info = JSON.parse(ok(await remote(['info', '--json']), 'info')) as Record<string, unknown>;
    assert.equal(info.nodeId, nodeId);
    assert.equal(info.url, node.url);
    assert.equal(info.loggedInAs, 'owner');

    assert.match(ok(await remote(['channels', 'create', 'lab:remote', '--description', 'made from afar']), 'channels create'), /^created channel lab:remote \([0-9a-f-]{36}\)\n$/);
    assert.match(ok(await remote(['posts', 'create', 'lab:remote', 'hello from afar', '--meta', '{"k":1}']), 'posts create'), /^posted #1 in lab:remote /);
    const posts = JSON.parse(ok(await remote(['posts', 'list', 'lab:remote', '--json']), 'posts list')) as Array<{ body: string; author: string; meta: unknown }>;
    assert.deepEqual(posts.map((p) => [p.body, p.author, p.meta]), [['hello from afar', 'owner', { k: 1 }]]);
    const shown = JSON.parse(ok(await remote(['channels', 'show', 'lab:remote', '--json']), 'channels show')) as { description: string; lastSeq: number };
    assert.deepEqual([shown.description, shown.lastSeq], ['made from afar', 1]);
    assert.match(ok(await remote(['channels', 'list']), 'channels list'), /\nlab:remote\s+[0-9a-f-]{36}\s+1\s/);

    // The client nodes of the next tests, registered remotely; the password is the first line of stdin.
    assert.equal(
      ok(await remote(['nodes', 'add', adminId, '--owner', '--password-stdin'], asOwner(), `${ADMIN_NODE_PASSWORD}\n`), 'nodes add'),
      `registered node ${adminId}: role child, read-only, owner rights, all channels\n`,
    );
    ok(await remote(['nodes', 'add', plainId, '--password-stdin'], asOwner(), `${PLAIN_NODE_PASSWORD}\n`), 'nodes add plain');
    assert.equal(
      ok(await remote(['nodes', 'set', plainId, '--read-write', '--channels', 'lab:*']), 'nodes set'),
      `changed node ${plainId}: role child, read-write, no owner rights, channels lab:*\n`,
    );
    assert.equal(
      ok(await remote(['nodes', 'set', plainId, '--read-only', '--channels', '*', '--new-password'], asOwner(), `${PLAIN_NODE_PASSWORD}\n`), 'nodes set password'),
      `changed node ${plainId}: role child, read-only, no owner rights, all channels; its sessions ended\n`,
    );
    const listed = JSON.parse(ok(await remote(['nodes', 'list', '--json']), 'nodes list')) as Array<{ id: string; asOwner: boolean }>;
    assert.deepEqual(listed.map((n) => [n.id, n.asOwner]).sort(), [[adminId, true], [plainId, false]].sort());
    // Registered over REST, it is in the node's own database: the local command sees it.
    assert.match(ok(await runMycel(['nodes', 'list'], { MYCEL_DATA_DIR: dir }), 'local nodes list'), new RegExp(adminId));

    const remoteDigest = ok(await remote(['digest']), 'digest');
    assert.match(remoteDigest, /^sha256:[0-9a-f]{64} channels=1 posts=1 links=0\n$/);
    assert.equal(ok(await runMycel(['digest'], { MYCEL_DATA_DIR: dir }), 'local digest'), remoteDigest);
  });

  test('the owner password from standard input, and MYCEL_NODE_URL instead of --node', async () => {
    const piped = await runMycel(['--node', node.url, '--password-stdin', 'info', '--json'], {}, 30_000, `${OWNER_PASSWORD}\n`);
    assert.equal((JSON.parse(ok(piped, 'info with --password-stdin')) as { nodeId: string }).nodeId, nodeId);
    // Piped: the credential first, then the command's own password.
    const third = randomUUID();
    const added = await runMycel(['--node', node.url, '--password-stdin', 'nodes', 'add', third], {}, 30_000, `${OWNER_PASSWORD}\nthird-node-password\n`);
    assert.equal(ok(added, 'nodes add, both passwords piped'), `registered node ${third}: role child, read-only, no owner rights, all channels\n`);
    assert.match(ok(await remote(['nodes', 'remove', third]), 'nodes remove'), new RegExp(`^removed node ${third}; its sessions ended\n$`));
    fails(await remote(['nodes', 'remove', third]), 'NODE_NOT_FOUND', 'remove twice');
    // Not a terminal and nothing given: the password comes from stdin without the flag too.
    const stdin = await runMycel(['channels', 'list', '--json'], { MYCEL_NODE_URL: node.url }, 30_000, `${OWNER_PASSWORD}\n`);
    assert.ok((JSON.parse(ok(stdin, 'MYCEL_NODE_URL channels list')) as Array<{ name: string }>).some((c) => c.name === 'lab:remote'));
    const env = await runMycel(['info', '--json'], { MYCEL_NODE_URL: node.url, ...asOwner() });
    const info = JSON.parse(ok(env, 'MYCEL_NODE_URL info')) as { nodeId: string; url: string };
    assert.deepEqual([info.nodeId, info.url], [nodeId, node.url]);
    assert.doesNotMatch(env.stderr, /MYCEL_NODE_URL is not a Mycel setting/);
    // --node wins over MYCEL_NODE_URL.
    const port = await closedPort();
    fails(await runMycel(['--node', `http://127.0.0.1:${port}`, 'info'], { MYCEL_NODE_URL: node.url, ...asOwner() }), 'NODE_UNREACHABLE', '--node over MYCEL_NODE_URL');
  });

  test('a wrong password is INVALID_CREDENTIALS; a closed port NODE_UNREACHABLE with the URL; a bad URL VALIDATION_FAILED', async () => {
    const wrong = await remote(['info'], { MYCEL_OWNER_PASSWORD: 'not-the-password' });
    fails(wrong, 'INVALID_CREDENTIALS', 'wrong owner password');
    assert.match(wrong.stderr, /hint: the owner password of http:\/\/127\.0\.0\.1:\d+ is not correct/);
    fails(await remote(['--as-node', adminId, 'info'], { MYCEL_NODE_PASSWORD: 'not-the-password' }), 'INVALID_CREDENTIALS', 'wrong node password');
    fails(await remote(['--as-node', randomUUID(), 'info'], { MYCEL_NODE_PASSWORD: ADMIN_NODE_PASSWORD }), 'INVALID_CREDENTIALS', 'unknown node id');

    const url = `http://127.0.0.1:${await closedPort()}`;
    const unreachable = await runMycel(['--node', url, 'channels', 'list'], asOwner());
    fails(unreachable, 'NODE_UNREACHABLE', 'closed port');
    assert.match(unreachable.stderr, new RegExp(`\\n  url: ${url.replace(/\./g, '\\.')}\\n`));
    // Without --node, nodes status asks the local node at its configured port: not running there.
    const local = await runMycel(['nodes', 'status', '--host', '127.0.0.1', '--port', String(await closedPort())], { MYCEL_DATA_DIR: dir, ...asOwner() });
    fails(local, 'NODE_UNREACHABLE', 'local nodes status, nothing on that port');
    assert.match(local.stderr, /\n  url: http:\/\/127\.0\.0\.1:\d+\n/);
    fails(await runMycel(['--node', 'ftp://127.0.0.1', 'info'], asOwner()), 'VALIDATION_FAILED', 'ftp URL');
    fails(await runMycel(['--node', `http://owner:${OWNER_PASSWORD}@127.0.0.1:1`, 'info'], {}), 'VALIDATION_FAILED', 'credentials in the URL');
    // Nothing to read the password from: said, not hung.
    fails(await runMycel(['--node', node.url, 'info'], {}, 30_000, ''), 'VALIDATION_FAILED', 'no password');
    // Commands that only work on the local node refuse --node.
    fails(await runMycel(['--node', node.url, 'verify'], asOwner()), 'VALIDATION_FAILED', 'verify --node');
    fails(await runMycel(['channels', 'list', '--as-node', adminId], { MYCEL_DATA_DIR: dir }), 'VALIDATION_FAILED', '--as-node without --node');
  });
});
