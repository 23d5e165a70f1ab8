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

test('`mycel info`, `mycel verify` and `mycel digest` on a data dir that does not exist, or is empty, create nothing', async () => {
  const absent = join(root, 'absent');
  const empty = mkdtempSync(join(root, 'empty-'));
  // In parallel: each is a process of its own, and none may create anything.
  const results = await Promise.all([
    runMycel(['info', '--data-dir', absent], {}),
    runMycel(['verify', '--json', '--data-dir', absent], {}),
    runMycel(['info', '--json'], { MYCEL_DATA_DIR: empty }),
    runMycel(['verify'], { MYCEL_DATA_DIR: empty }),
    runMycel(['digest', '--data-dir', absent], {}),
    runMycel(['digest'], { MYCEL_DATA_DIR: empty }),
  ]);
  results.forEach(assertNotInitialized);
  assert.equal(existsSync(absent), false, 'the directory was not created');
  assert.deepEqual(readdirSync(empty), [], 'nothing was created in it');
});

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
        (await Promise.all([runMycel(['info'], env), runMycel(['verify'], env)])).forEach(assertNotInitialized);
        assert.equal(await tables(), 0, 'no table was created');

        const init = await runMycel(['init'], env);
        assert.equal(init.code, 0, init.stderr);
        const [info, verify] = await Promise.all([runMycel(['info', '--json'], env), runMycel(['verify'], env)]);
        assert.equal(info.code, 0, info.stderr);
        assert.equal((JSON.parse(info.stdout) as { database: string }).database, backend.name);
        assert.equal(verify.code, 0, verify.stderr);
      } finally {
        await h.cleanup();
      }
    });
  });
}
