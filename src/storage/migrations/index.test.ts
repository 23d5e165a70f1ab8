import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MycelError } from '../../errors.js';
import { CURRENT_SCHEMA_VERSION, MIGRATIONS, pendingMigrations } from './index.js';

/** Names after `keyword` in a script, e.g. every table a migration creates. */
function names(sql: string, keyword: RegExp): string[] {
  return [...sql.matchAll(keyword)].map((m) => m[1]!).sort();
}

describe('migrations', () => {
  it('run 1, 2, 3… with unique names, up to CURRENT_SCHEMA_VERSION', () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      Array.from({ length: MIGRATIONS.length }, (_, i) => i + 1),
    );
    assert.equal(new Set(MIGRATIONS.map((m) => m.name)).size, MIGRATIONS.length);
    assert.equal(CURRENT_SCHEMA_VERSION, MIGRATIONS.length);
  });

  it('create the same tables and indexes in both dialects', () => {
    for (const m of MIGRATIONS) {
      assert.ok(m.sqlite.trim() && m.postgres.trim(), `migration ${m.version} has both dialects`);
      const tables = /CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g;
      const indexes = /CREATE (?:UNIQUE )?INDEX (?:IF NOT EXISTS )?(\w+)/g;
      assert.deepEqual(names(m.sqlite, tables), names(m.postgres, tables), `tables of migration ${m.version}`);
      assert.deepEqual(names(m.sqlite, indexes), names(m.postgres, indexes), `indexes of migration ${m.version}`);
    }
  });

  it('lists what is pending and refuses a database newer than the code', () => {
    assert.deepEqual(pendingMigrations([]), MIGRATIONS);
    assert.deepEqual(pendingMigrations(MIGRATIONS.map((m) => m.version)), []);
    assert.throws(
      () => pendingMigrations([...MIGRATIONS.map((m) => m.version), CURRENT_SCHEMA_VERSION + 1]),
      (err: unknown) =>
        err instanceof MycelError &&
        err.code === 'SCHEMA_TOO_NEW' &&
        err.details?.databaseVersion === CURRENT_SCHEMA_VERSION + 1 &&
        err.details?.codeVersion === CURRENT_SCHEMA_VERSION,
    );
  });
});
