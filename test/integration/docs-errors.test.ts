import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';

// Like fastify's test/internals/errors.test.js: the registry and its documentation table must
// list the same codes with the same status and message, both ways.

interface Row {
  status: number;
  message: string;
  when: string;
  line: number;
}

function readTable(): Map<string, Row> {
  const text = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, Row>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const match = /^\| `([A-Z][A-Z0-9_]*)` \| (\d{3}) \| (.*?) \| (.*) \|$/.exec(line);
    if (!match) {
      // A table row that names a code but is not in the expected shape would otherwise be skipped silently.
      assert.ok(!/^\| `[A-Z][A-Z0-9_]*`/.test(line), `docs/errors.md:${i + 1} is a code row in an unexpected shape: ${line}`);
      return;
    }
    const [, code, status, message, when] = match as unknown as [string, string, string, string, string];
    assert.ok(!rows.has(code), `docs/errors.md lists ${code} twice (line ${i + 1})`);
    rows.set(code, { status: Number(status), message, when: when.trim(), line: i + 1 });
  });
  return rows;
}

const table = readTable();
const registry = Object.entries(ERROR_CODES) as Array<[ErrorCode, { status: number; message: string }]>;

test('the docs table has rows to compare', () => {
  assert.ok(table.size >= 10, `found only ${table.size} code rows in docs/errors.md`);
});

test('every registry code is documented with its status and message', () => {
  const missing = registry.filter(([code]) => !table.has(code)).map(([code]) => code);
  assert.deepEqual(missing, [], `codes missing from docs/errors.md: ${missing.join(', ')}`);
  for (const [code, { status, message }] of registry) {
    const row = table.get(code)!;
    assert.equal(row.status, status, `${code}: docs/errors.md:${row.line} says ${row.status}, src/errors.ts says ${status}`);
    assert.equal(row.message, message, `${code}: docs/errors.md:${row.line} message differs from src/errors.ts`);
    assert.ok(row.when.length > 0, `${code}: docs/errors.md:${row.line} does not say when it happens`);
  }
});

test('the docs table names no code the registry lacks', () => {
  const extra = [...table.keys()].filter((code) => !(code in ERROR_CODES));
  assert.deepEqual(extra, [], `docs/errors.md lists codes that src/errors.ts does not have: ${extra.join(', ')}`);
});
