// `mycel info` and `mycel verify` on a place that holds no node fail with NODE_NOT_INITIALIZED
// and create nothing there: no directory, no file, no table. Real processes, SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runMycel, type CliResult } from '../helpers/process.js';
import { rawExec, storageBackends } from '../helpers/storage.js';

const root = mkdtempSync(join(tmpdir(), 'mycel-not-init-'));
after(() => rmSync(root, { recursive: true, force: true }));

function assertNotInitialized(res: CliResult): void {
  assert.equal(res.code, 1, `exit code; stderr: ${res.stderr}`);
  assert.equal(res.stdout, '');
  assert.match(res.stderr, /^error NODE_NOT_INITIALIZED: No node here yet/);
  assert.match(res.stderr, /\nhint: /);
  assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
}

for (const command of [['info'], ['info', '--json'], ['verify']]) {
  test(`\`mycel ${command.join(' ')}\` on a data dir that does not exist, or is empty, creates nothing`, async () => {
    const absent = join(root, `absent-${command.join('')}`);
    assertNotInitialized(await runMycel([...command, '--data-dir', absent], {}));
    assert.equal(existsSync(absent), false, 'the directory was not created');

    const empty = mkdtempSync(join(root, 'empty-'));
    assertNotInitialized(await runMycel(command, { MYCEL_DATA_DIR: empty }));
    assert.deepEqual(readdirSync(empty), [], 'nothing was created in it');
  });
}

for (const backend of storageBackends) {
  describe(`an empty database (${backend.name})`, () => {
    test('info and verify fail with NODE_NOT_INITIALIZED and create no table; after init they work', async () => {
      const h = await backend.create({ migrate: false });
      try {
        const env: Record<string, string> = backend.name === 'sqlite' ? { MYCEL_DATA_DIR: h.dataDir } : { MYCEL_DATA_DIR: h.dataDir, MYCEL_DATABASE_URL: h.url };
        const tables = async (): Promise<number> => {
          const sql =
            h.name === 'sqlite'
              ? "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'"
              : 'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1';
          const { rows } = await rawExec(h, sql, h.name === 'sqlite' ? [] : [h.schema]);
          return Number(rows[0]!.n);
        };
        assertNotInitialized(await runMycel(['info'], env));
        assertNotInitialized(await runMycel(['verify'], env));
        assert.equal(await tables(), 0, 'no table was created');

        const init = await runMycel(['init'], env);
        assert.equal(init.code, 0, init.stderr);
        const info = await runMycel(['info', '--json'], env);
        assert.equal(info.code, 0, info.stderr);
        assert.equal((JSON.parse(info.stdout) as { database: string }).database, backend.name);
        assert.equal((await runMycel(['verify'], env)).code, 0);
      } finally {
        await h.cleanup();
      }
    });
  });
}
