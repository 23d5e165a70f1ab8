// One serving process per SQLite data directory: a second `mycel serve` is refused while the
// first runs, one-shot commands still read, and the lock dies with its process (SIGKILL too).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MycelError } from '../../src/errors.js';
import { lockDataDir } from '../../src/storage/sqlite/data-dir-lock.js';
import { runMycel, startMycel } from '../helpers/process.js';

const root = mkdtempSync(join(tmpdir(), 'mycel-lock-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('a second serve on the same data dir is refused with DATA_DIR_LOCKED; info still reads; SIGKILL frees the lock', async () => {
  const dir = join(root, 'two-serves');
  const env = { MYCEL_DATA_DIR: dir, MYCEL_OWNER_PASSWORD: 'lock-test-password' };
  const first = await startMycel(env);
  try {
    const second = await runMycel(['serve', '--port', '0'], env);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`^error DATA_DIR_LOCKED: Another mycel process is serving the data directory ${dir} \\(it holds mycel\\.lock\\)\\n`));
    assert.match(second.stderr, /\nhint: another `mycel serve` is running on this data directory: stop it first\. Several instances of one node need PostgreSQL \(database\.url\) and Redis \(realtime\.redisUrl\)\n$/);
    assert.doesNotMatch(second.stderr, /\n\s+at /, 'no stack trace');
    assert.ok(!second.stdout.includes('"msg":"listening"'), 'the second never listened');

    const info = await runMycel(['info', '--json'], env);
    assert.equal(info.code, 0, info.stderr);
    const verify = await runMycel(['verify'], env);
    assert.equal(verify.code, 0, verify.stderr);
  } finally {
    assert.equal((await first.stop('SIGKILL')).signal, 'SIGKILL');
  }
  // No clean shutdown ran: the kernel released the lock with the process.
  const again = await startMycel(env);
  assert.equal((await again.stop('SIGTERM')).code, 0);
});

test('the lock is exclusive inside one process too, and free again once released', () => {
  const dir = join(root, 'in-process');
  const lock = lockDataDir(dir);
  assert.throws(() => lockDataDir(dir), (err: unknown) => err instanceof MycelError && err.code === 'DATA_DIR_LOCKED');
  lock.release();
  lock.release();
  lockDataDir(dir).release();
});
