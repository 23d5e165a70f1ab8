// What a benchmark's connections hold on the heap: compares two V8 heap snapshots (from
// `npm run bench -- idle-connections --heap-snapshots DIR`) by constructor / type and prints
// the growth in count and self size, per connection when --per N is given.
// Usage: node --import tsx bench/_lib/heapsnapshot-diff.ts BASE.heapsnapshot LOADED.heapsnapshot [--per N] [--top N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size and count per "type:name" (objects by constructor, strings, arrays, closures…). */
function summarize(file: string): Map<string, { count: number; size: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    // Strings are keyed by type only: their "name" is their content.
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' ? '' : snap.strings[snap.nodes[i + iName]!]!;
    const key = `${type}:${name.slice(0, 60)}`;
    const e = out.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += snap.nodes[i + iSize]!;
    out.set(key, e);
  }
  return out;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { per: { type: 'string', default: '1' }, top: { type: 'string', default: '30' } } });
if (positionals.length !== 2) {
  console.error('usage: heapsnapshot-diff.ts BASE.heapsnapshot LOADED.heapsnapshot [--per N] [--top N]');
  process.exit(2);
}
const per = Number(values.per);
const base = summarize(positionals[0]!);
const loaded = summarize(positionals[1]!);
const rows = [...loaded].map(([k, v]) => {
  const b = base.get(k) ?? { count: 0, size: 0 };
  return { k, count: (v.count - b.count) / per, size: (v.size - b.size) / per };
});
rows.sort((a, b) => b.size - a.size);
const total = rows.reduce((a, r) => a + r.size, 0);
console.log(`heap growth${per > 1 ? ` per connection (÷${per})` : ''}: ${total.toFixed(0)} bytes`);
console.log(`${'bytes'.padStart(9)} ${'count'.padStart(8)}  type:name`);
for (const r of rows.slice(0, Number(values.top))) console.log(`${r.size.toFixed(0).padStart(9)} ${r.count.toFixed(2).padStart(8)}  ${r.k}`);
