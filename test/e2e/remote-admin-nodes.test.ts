// Remote administration as client nodes, on real processes: a node registered with owner rights
// (`mycel --node URL --as-node ID …`, password from MYCEL_NODE_PASSWORD or standard input) reads
// and writes content, manages client nodes and reads the network status, writing as
// `node:<id>`; a node without owner rights reads content and is refused the rest (FORBIDDEN).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runMycel, startMycel, type ServingNode } from '../helpers/process.js';
import { cliChecks, initNode, SERVE_ENV } from './remote-cli-harness.js';

const OWNER_PASSWORD = 'remote-owner-pw-2';
const ADMIN_NODE_PASSWORD = 'remote-admin-node-pw-2';
const PLAIN_NODE_PASSWORD = 'remote-plain-node-pw-2';
const { ok, fails } = cliChecks([OWNER_PASSWORD, ADMIN_NODE_PASSWORD, PLAIN_NODE_PASSWORD]);

const root = mkdtempSync(join(tmpdir(), 'mycel-remote-nodes-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('mycel --node --as-node against a running node', () => {
  const dir = join(root, 'served');
  let node: ServingNode;
  const adminId = randomUUID();
  const plainId = randomUUID();
  const remote = (args: string[], env: Record<string, string>, input?: string) => runMycel(['--node', node.url, ...args], env, 30_000, input);

  before(async () => {
    await initNode(dir, OWNER_PASSWORD);
    // Registered locally (the remote way is remote-admin.test.ts's), then served.
    const local = { MYCEL_DATA_DIR: dir };
    ok(await runMycel(['nodes', 'add', adminId, '--owner', '--password-stdin'], local, 30_000, `${ADMIN_NODE_PASSWORD}\n`), 'nodes add admin');
    ok(await runMycel(['nodes', 'add', plainId, '--password-stdin'], local, 30_000, `${PLAIN_NODE_PASSWORD}\n`), 'nodes add plain');
    node = await startMycel({ MYCEL_DATA_DIR: dir, ...SERVE_ENV });
  });
  after(async () => {
    await node?.stop();
  });

  test('as a client node with owner rights: content, node registry and status, written as that node', async () => {
    const asAdmin = { MYCEL_NODE_PASSWORD: ADMIN_NODE_PASSWORD };
    const admin = (args: string[], input?: string) => remote(['--as-node', adminId, ...args], asAdmin, input);
    const info = JSON.parse(ok(await admin(['info', '--json']), 'info as node')) as { loggedInAs: string };
    assert.equal(info.loggedInAs, `node ${adminId} (owner rights)`);
    ok(await admin(['channels', 'create', 'lab:by-node']), 'channels create as node');
    ok(await admin(['posts', 'create', 'lab:by-node', 'written by a node']), 'posts create as node');
    const posts = JSON.parse(ok(await admin(['posts', 'list', 'lab:by-node', '--json']), 'posts list as node')) as Array<{ body: string; author: string }>;
    assert.deepEqual(posts.map((p) => [p.body, p.author]), [['written by a node', `node:${adminId}`]]);
    const third = randomUUID();
    ok(await admin(['nodes', 'add', third, '--password-stdin'], 'third-node-password\n'), 'nodes add as node');
    assert.match(ok(await admin(['nodes', 'list']), 'nodes list as node'), new RegExp(third));
    const status = JSON.parse(ok(await admin(['nodes', 'status', '--json']), 'nodes status as node')) as { servers: unknown[]; clients: unknown[] };
    assert.ok(Array.isArray(status.servers) && Array.isArray(status.clients));
    // The node's password from standard input, without MYCEL_NODE_PASSWORD.
    const piped = await runMycel(['--node', node.url, '--as-node', adminId, '--password-stdin', 'channels', 'show', 'lab:by-node'], {}, 30_000, `${ADMIN_NODE_PASSWORD}\n`);
    assert.match(ok(piped, 'as node with --password-stdin'), /^name\s+lab:by-node\n/);
  });

  test('a client node without owner rights is refused what is the owner\'s (FORBIDDEN), and reads content', async () => {
    const plain = (args: string[]) => remote(['--as-node', plainId, ...args], { MYCEL_NODE_PASSWORD: PLAIN_NODE_PASSWORD });
    fails(await plain(['channels', 'create', 'lab:not-mine']), 'FORBIDDEN', 'channels create');
    fails(await plain(['posts', 'create', 'lab:by-node', 'no']), 'FORBIDDEN', 'posts create');
    fails(await plain(['nodes', 'list']), 'FORBIDDEN', 'nodes list');
    fails(await plain(['nodes', 'status']), 'FORBIDDEN', 'nodes status');
    fails(await plain(['digest']), 'FORBIDDEN', 'digest');
    // Written by the owner node in the test before.
    assert.match(ok(await plain(['posts', 'list', 'lab:by-node']), 'posts list'), /written by a node/);
  });
});
