// runTask from compiled JavaScript, as `npm start` runs it from dist/: the compute sources are
// compiled with tsc into a temporary folder and a plain `node` (no tsx) runs a task there, so
// the worker thread's entry is found beside the compiled run-task.js.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mycel-compute-dist-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a task runs from the compiled sources in plain node', async () => {
  const out = join(dir, 'out');
  await run(process.execPath, [
    join(root, 'node_modules/typescript/bin/tsc'),
    join(root, 'src/compute/run-task.ts'),
    join(root, 'src/compute/task-worker.ts'),
    join(root, 'src/compute/coordinator.ts'),
    '--outDir', out, '--rootDir', join(root, 'src'),
    '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022',
    '--strict', '--skipLibCheck', '--types', 'node',
  ], { cwd: root, timeout: 170_000 });
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
  symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'), 'dir');
  const csv = join(dir, 'd.csv');
  writeFileSync(csv, 'g,x\n' + Array.from({ length: 30 }, (_, i) => `${i % 2 ? 'a' : 'b'},${i}`).join('\n') + '\n');
  const script = `
    import { runTask } from './compute/run-task.js';
    import { firstRound, mergeRound } from './compute/coordinator.js';
    const plan = { version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'mean', columns: ['x'], groupBy: ['g'] }] };
    const state = firstRound(plan);
    const output = await runTask(state.input, { name: 'd', kind: 'file', type: 'csv', path: ${JSON.stringify(csv)}, tokens: [] }, { timeoutMs: 60000 });
    console.log(JSON.stringify(mergeRound(state, [{ clientId: 'c', output }], { k: 10 }).result));`;
  writeFileSync(join(out, 'check.mjs'), script);
  const { stdout } = await run(process.execPath, [join(out, 'check.mjs')], { cwd: out, timeout: 60_000 });
  const result = JSON.parse(stdout) as { results: Array<{ result: { groups: Array<{ key: string[]; rows: number; values: number[] }> } }> };
  assert.deepEqual(result.results[0]!.result.groups, [
    { key: ['a'], rows: 15, values: [15] },
    { key: ['b'], rows: 15, values: [14] },
  ]);
});
