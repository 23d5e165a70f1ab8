// `mycel channels` and `mycel posts` on the local data directory, as the owner through the
// Operator (the one write path: the log verifies afterwards), and NODE_NOT_INITIALIZED where
// there is no node. The same commands on a remote node: remote-admin*.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runMycel } from '../helpers/process.js';
import { cliChecks, initNode } from './remote-cli-harness.js';

const OWNER_PASSWORD = 'content-cli-owner-pw';
const { ok, fails } = cliChecks([OWNER_PASSWORD]);

const root = mkdtempSync(join(tmpdir(), 'mycel-content-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('mycel channels and posts on the local data directory', () => {
  const dir = join(root, 'local');
  before(async () => {
    await initNode(dir, OWNER_PASSWORD);
  });
  const local = (args: string[]) => runMycel(args, { MYCEL_DATA_DIR: dir });

  test('create, list and show channels; write and list posts, as the owner, through the write path', async () => {
    assert.equal(ok(await local(['channels', 'list']), 'empty list'), 'no channels\n');
    assert.match(ok(await local(['channels', 'create', 'notes:day', '--description', 'a day']), 'create'), /^created channel notes:day /);
    fails(await local(['channels', 'create', 'notes:day']), 'CHANNEL_EXISTS', 'create twice');
    for (const body of ['one', 'two']) ok(await local(['posts', 'create', 'notes:day', body]), `post ${body}`);
    const newest = JSON.parse(ok(await local(['posts', 'list', 'notes:day', '--newest', '--limit', '1', '--json']), 'list newest')) as Array<{ seq: number; author: string; body: string }>;
    assert.deepEqual(newest.map((p) => [p.seq, p.author, p.body]), [[2, 'owner', 'two']]);
    const shown = ok(await local(['channels', 'show', 'notes:day']), 'show');
    assert.match(shown, /^name\s+notes:day\n/);
    assert.match(shown, /\ndescription\s+a day\nposts\s+2\n/);
    fails(await local(['channels', 'show', 'notes:nope']), 'CHANNEL_NOT_FOUND', 'show unknown');
    const badMeta = await local(['posts', 'create', 'notes:day', 'x', '--meta', '[1]']);
    assert.equal(badMeta.code, 1);
    assert.match(badMeta.stderr, /--meta <json>.*must be a JSON object/);
    // Written through the Operator: the change log verifies and holds the channel and the posts.
    const verify = ok(await local(['verify']), 'verify');
    assert.match(verify, /^ok: 3 changes verify/);
    assert.match(verify, /ok: the tables match the log/);
  });

  test('on a data directory without a node: NODE_NOT_INITIALIZED, nothing created', async () => {
    fails(await runMycel(['posts', 'create', 'a:b', 'x'], { MYCEL_DATA_DIR: join(root, 'nothing-here') }), 'NODE_NOT_INITIALIZED', 'posts create');
  });
});
