/**
 * The layer rule (.dependency-cruiser.cjs, `npm run lint:layers`) must hold on the tree and
 * must be able to fail: a fixture that imports upward, pulls a transport library into the
 * domain and has a type-only cycle is refused on all three counts. A config that scanned
 * nothing, or whose paths matched nothing, would pass src/ silently; this test would not.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const root = new URL('../..', import.meta.url).pathname;
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');
const config = join(root, '.dependency-cruiser.cjs');

interface Cruise {
  summary: { violations: Array<{ from: string; to: string; rule: { name: string } }>; totalCruised: number; error: number };
}

function cruise(cwd: string): Cruise {
  const run = spawnSync(depcruise, ['src', '--config', config, '--output-type', 'json'], { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.ok(run.stdout.length > 0, `depcruise printed nothing: ${run.stderr}`);
  return JSON.parse(run.stdout) as Cruise;
}

test('the source tree keeps the layer order and has no import cycles', () => {
  const result = cruise(root);
  assert.deepEqual(result.summary.violations, []);
  assert.ok(result.summary.totalCruised > 100, `only ${result.summary.totalCruised} modules cruised`);
});

test('an upward import, a transport library in the domain and a type-only cycle each fail the rule', () => {
  const result = cruise(join(root, 'test', 'fixtures', 'layers'));
  const found = result.summary.violations.map((v) => `${v.rule.name}: ${v.from}`).sort();
  assert.deepEqual(found, [
    'core-without-transports: src/domain/uses-ws.ts',
    'layer-domain: src/domain/reaches-up.ts',
    'no-cycles: src/realtime/ping.ts',
  ]);
  assert.equal(result.summary.error, found.length);
});
