import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DISCONNECTS, ERRORS, UNSUBSCRIBES, disconnectReconnects } from './codes.js';

// Like the error registry test: every code in the tables has a row in docs/protocol.md with the
// same text, and every code row there is a code of the tables.

interface Row {
  text: string;
  flag: string;
  line: number;
}

function readSection(heading: string): Map<number, Row> {
  const lines = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  assert.ok(start >= 0, `docs/protocol.md has no "${heading}" section`);
  const rows = new Map<number, Row>();
  for (let i = start + 1; i < lines.length && !lines[i]!.startsWith('#'); i++) {
    const m = /^\| (\d{3,4}) \| (.*?) \| (yes|no) \| .* \|$/.exec(lines[i]!.trim());
    if (!m) {
      assert.ok(!/^\| \d{3,4} \|/.test(lines[i]!.trim()), `docs/protocol.md:${i + 1} is a code row in an unexpected shape`);
      continue;
    }
    const code = Number(m[1]);
    assert.ok(!rows.has(code), `docs/protocol.md lists ${code} twice`);
    rows.set(code, { text: m[2]!, flag: m[3]!, line: i + 1 });
  }
  return rows;
}

test('every reply error code is documented with its message and temporary flag, and nothing else', () => {
  const rows = readSection('### Reply errors');
  for (const e of Object.values(ERRORS)) {
    const row = rows.get(e.code);
    assert.ok(row, `docs/protocol.md lacks reply error ${e.code}`);
    assert.equal(row.text, e.message, `message of ${e.code}`);
    assert.equal(row.flag, 'temporary' in e && e.temporary ? 'yes' : 'no', `temporary flag of ${e.code}`);
  }
  assert.deepEqual([...rows.keys()].sort(), Object.values(ERRORS).map((e) => e.code).sort());
});

test('every disconnect code is documented with its reason and reconnect advice, and nothing else', () => {
  const rows = readSection('### Disconnects');
  for (const d of Object.values(DISCONNECTS)) {
    const row = rows.get(d.code);
    assert.ok(row, `docs/protocol.md lacks disconnect ${d.code}`);
    assert.equal(row.text, d.reason, `reason of ${d.code}`);
    assert.equal(row.flag, disconnectReconnects(d.code) ? 'yes' : 'no', `reconnect advice of ${d.code}`);
  }
  assert.deepEqual([...rows.keys()].sort(), Object.values(DISCONNECTS).map((d) => d.code).sort());
});

test('every unsubscribe code is documented, and nothing else', () => {
  const rows = readSection('### Unsubscribes');
  for (const u of Object.values(UNSUBSCRIBES)) {
    const row = rows.get(u.code);
    assert.ok(row, `docs/protocol.md lacks unsubscribe ${u.code}`);
    assert.equal(row.text, u.reason);
    assert.equal(row.flag, u.code >= 2500 ? 'yes' : 'no');
  }
  assert.deepEqual([...rows.keys()].sort(), Object.values(UNSUBSCRIBES).map((u) => u.code).sort());
});

test('codes sit in their documented ranges', () => {
  for (const e of Object.values(ERRORS)) assert.ok(e.code >= 100 && e.code <= 399, `${e.code}`);
  for (const d of Object.values(DISCONNECTS)) assert.ok(d.code >= 3000 && d.code <= 3999, `${d.code}`);
  for (const u of Object.values(UNSUBSCRIBES)) assert.ok(u.code >= 2000 && u.code <= 2999, `${u.code}`);
  assert.equal(disconnectReconnects(3001), true);
  assert.equal(disconnectReconnects(3500), false);
  assert.equal(disconnectReconnects(4100), true);
  assert.equal(disconnectReconnects(4500), false);
  assert.equal(disconnectReconnects(1006), true);
});
