// `mycel verify` walks the hash chain and names the first bad serial of a tampered log.
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { OWNER } from '../../src/domain/actor.js';
import { createStorage } from '../../src/storage/index.js';
import { openTestCore } from '../helpers/core.js';
import { runMycel } from '../helpers/process.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-verify-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('verify passes on an honest log and reports the first tampered serial', async () => {
  const core = await openTestCore(createStorage({ url: 'sqlite', dataDir: dir }), { name: 'v', ownerPassword: 'verify-pw' });
  const ch = await core.operator.createChannel(OWNER, { name: 'v' });
  for (let i = 0; i < 20; i++) await core.operator.createPost(OWNER, { channelId: ch.id, body: `post ${i}` });
  await core.close();

  const env = { MYCEL_DB_DIR: dir, MYCEL_OWNER_PASSWORD: 'verify-pw' };
  const ok = await runMycel(['verify'], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: 21 changes verify/);

  const db = new Database(join(dir, 'mycel.db'));
  const row = db.prepare('SELECT payload FROM changes WHERE serial = 7').get() as { payload: string };
  db.prepare('UPDATE changes SET payload = ? WHERE serial = 7').run(row.payload.replace('post 5', 'post X'));
  db.close();

  const bad = await runMycel(['verify', '--json'], env);
  assert.equal(bad.code, 1, bad.stderr);
  const verdict = JSON.parse(bad.stdout) as { ok: boolean; firstBadSerial: number; reason: string };
  assert.equal(verdict.ok, false);
  assert.equal(verdict.firstBadSerial, 7);
  assert.match(verdict.reason, /hash/);

  const text = await runMycel(['verify'], env);
  assert.equal(text.code, 1);
  assert.match(text.stdout, /first bad serial 7/);
});
