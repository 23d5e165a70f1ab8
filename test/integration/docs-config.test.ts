import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIG_KEYS, flagName, formatDefault } from '../../src/config/keys.js';

/**
 * docs/config.md must list every key of src/config/keys.ts, with its environment variable,
 * flag and the schema's default, and must not list keys that no longer exist.
 */

const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');

interface DocRow {
  key: string;
  env: string;
  flag: string;
  default: string;
}

/** Rows of the key tables: lines `| \`path\` | env | flag | type | default | meaning |`. */
function documentedRows(text: string): DocRow[] {
  const rows: DocRow[] = [];
  for (const line of text.split('\n')) {
    const match = /^\| `([A-Za-z0-9.]+)` \|/.exec(line);
    if (!match) continue;
    // Split on cell borders but not on `\|` inside a cell (enum types).
    const cells = line
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim());
    rows.push({ key: match[1]!, env: cells[1] ?? '', flag: cells[2] ?? '', default: cells[4] ?? '' });
  }
  return rows;
}

const rows = documentedRows(doc);
const rowByKey = new Map(rows.map((r) => [r.key, r]));

test('the key tables were found', () => {
  assert.ok(rows.length >= CONFIG_KEYS.length, `only ${rows.length} rows parsed`);
});

test('docs/config.md lists every key exactly once', () => {
  const missing = CONFIG_KEYS.filter((k) => !rowByKey.has(k.path)).map((k) => k.path);
  assert.deepEqual(missing, [], `missing from docs/config.md: ${missing.join(', ')}`);
  const keys = rows.map((r) => r.key);
  assert.equal(new Set(keys).size, keys.length, 'a key is listed twice');
});

test('docs/config.md lists no key the schema lacks', () => {
  const known = new Set(CONFIG_KEYS.map((k) => k.path));
  assert.deepEqual(rows.map((r) => r.key).filter((k) => !known.has(k)), []);
});

test('each documented default is the schema default', () => {
  const wrong = CONFIG_KEYS.filter((k) => rowByKey.get(k.path) && rowByKey.get(k.path)!.default !== formatDefault(k)).map(
    (k) => `${k.path}: docs say ${rowByKey.get(k.path)!.default}, schema says ${formatDefault(k)}`,
  );
  assert.deepEqual(wrong, []);
});

test('each documented environment variable and flag is the one in keys.ts', () => {
  const wrong: string[] = [];
  for (const key of CONFIG_KEYS) {
    const row = rowByKey.get(key.path);
    if (!row) continue;
    const aliases = key.envAliases.map((a) => ` (old name: \`${a}\`)`).join('');
    const env = key.env === null ? 'YAML only' : `\`${key.env}\`${aliases}`;
    if (row.env !== env) wrong.push(`${key.path}: env ${row.env} ≠ ${env}`);
    const flag = flagName(key);
    const expectedFlag = flag === null ? '' : `\`${flag}\``;
    if (row.flag !== expectedFlag) wrong.push(`${key.path}: flag ${row.flag} ≠ ${expectedFlag}`);
  }
  assert.deepEqual(wrong, []);
});

test('the YAML example uses ${VAR} and ${VAR:-default}', () => {
  assert.match(doc, /```yaml[\s\S]*\$\{[A-Z_]+\}[\s\S]*\$\{[A-Z_]+:-[^}]*\}[\s\S]*```/);
});
