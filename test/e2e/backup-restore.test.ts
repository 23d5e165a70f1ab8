/**
 * `mycel backup` and `mycel restore` on a real node's SQLite database:
 * - a backup taken while the node serves and writes is a sound database with every post
 *   committed before it (online backup, not a file copy);
 * - restore refuses while the node runs (DATA_DIR_LOCKED), refuses to replace a database without
 *   --force, refuses a file that is not a Mycel database; with --force the node starts again as
 *   it was at backup time;
 * - typed errors: BACKUP_TARGET_EXISTS, BACKUP_INVALID, BACKUP_UNSUPPORTED (PostgreSQL).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { TEST_DATABASE_URL } from '../helpers/env.js';
import { runMycel, startMycel, type ServingNode } from '../helpers/process.js';
import { OWNER_PASSWORD, rest } from '../helpers/network-process.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-backup-'));
const procs: ServingNode[] = [];
after(async () => {
  for (const p of procs) await p.stop();
  rmSync(dir, { recursive: true, force: true });
});

const dataDir = join(dir, 'data');
const env = { MYCEL_DATA_DIR: dataDir, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD };

async function postCount(url: string, channelId: string): Promise<number> {
  const page = await rest<{ items: unknown[] }>(url, 'GET', `/api/v1/channels/${channelId}/posts?limit=1000`);
  assert.equal(page.status, 200);
  return page.body.items.length;
}

describe('mycel backup and restore (SQLite)', { timeout: 120_000 }, () => {
  it('backs up a serving node online and restores it when stopped', async () => {
    const node = await startMycel(env);
    procs.push(node);
    const channel = await rest<{ id: string }>(node.url, 'POST', '/api/v1/channels', { name: 'ops:backup' });
    assert.equal(channel.status, 201);
    for (let i = 0; i < 20; i++) assert.equal((await rest(node.url, 'POST', `/api/v1/channels/${channel.body.id}/posts`, { body: `before ${i}` })).status, 201);

    // Writes keep going while the backup runs.
    let writing = true;
    let during = 0;
    const writer = (async () => {
      while (writing) {
        assert.equal((await rest(node.url, 'POST', `/api/v1/channels/${channel.body.id}/posts`, { body: `during ${during}` })).status, 201);
        during++;
      }
    })();
    const backupFile = join(dir, 'node.backup.db');
    const backup = await runMycel(['backup', backupFile, '--json'], env);
    writing = false;
    await writer;
    assert.equal(backup.code, 0, backup.stderr);
    const report = JSON.parse(backup.stdout) as { file: string; bytes: number; schemaVersion: number };
    assert.equal(report.file, backupFile);
    assert.ok(report.bytes > 0 && report.schemaVersion > 0, backup.stdout);

    // The backup target exists now: refused without --force.
    const again = await runMycel(['backup', backupFile], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /error BACKUP_TARGET_EXISTS/);

    // Posts after the backup.
    for (let i = 0; i < 5; i++) assert.equal((await rest(node.url, 'POST', `/api/v1/channels/${channel.body.id}/posts`, { body: `after ${i}` })).status, 201);
    const total = await postCount(node.url, channel.body.id);
    assert.equal(total, 25 + during);

    const locked = await runMycel(['restore', backupFile, '--force'], env);
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /error DATA_DIR_LOCKED/);

    assert.equal((await node.stop()).code, 0);
    procs.pop();

    const notMycel = join(dir, 'not-a-database.db');
    writeFileSync(notMycel, 'hello');
    const invalid = await runMycel(['restore', notMycel, '--force'], env);
    assert.equal(invalid.code, 1);
    assert.match(invalid.stderr, /error BACKUP_INVALID/);

    const noForce = await runMycel(['restore', backupFile], env);
    assert.equal(noForce.code, 1);
    assert.match(noForce.stderr, /error BACKUP_TARGET_EXISTS/);

    const restored = await runMycel(['restore', backupFile, '--force'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /^restored .*mycel\.db \(\d+ bytes, schema version \d+\)/);
    assert.equal(existsSync(join(dataDir, 'mycel.db-wal')), false);

    const verify = await runMycel(['verify'], env);
    assert.equal(verify.code, 0, verify.stderr + verify.stdout);

    const back = await startMycel(env);
    procs.push(back);
    const count = await postCount(back.url, channel.body.id);
    // Every post committed before the backup began, none written after it ended.
    assert.ok(count >= 20 && count <= 20 + during, `restored ${count} posts; 20 before, ${during} during the backup`);
    const bodies = (await rest<{ items: Array<{ body: string }> }>(back.url, 'GET', `/api/v1/channels/${channel.body.id}/posts?limit=1000`)).body.items.map((p) => p.body);
    assert.ok(!bodies.some((b) => b.startsWith('after')), 'a post written after the backup is in it');
  });

  it('refuses PostgreSQL with BACKUP_UNSUPPORTED and a node-less data directory with NODE_NOT_INITIALIZED', async () => {
    const pg = await runMycel(['backup', join(dir, 'pg.db')], { MYCEL_DATABASE_URL: TEST_DATABASE_URL });
    assert.equal(pg.code, 1);
    assert.match(pg.stderr, /error BACKUP_UNSUPPORTED/);
    assert.match(pg.stderr, /pg_dump/);
    const empty = await runMycel(['backup', join(dir, 'empty.db')], { MYCEL_DATA_DIR: join(dir, 'nothing-here') });
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /error NODE_NOT_INITIALIZED/);
    assert.equal(existsSync(join(dir, 'nothing-here')), false);
  });

  it('has --help for both commands', async () => {
    for (const command of ['backup', 'restore']) {
      const help = await runMycel([command, '--help'], {});
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`Usage: mycel ${command} \\[options\\] <file>`));
      assert.match(help.stdout, /--force/);
    }
  });
});
