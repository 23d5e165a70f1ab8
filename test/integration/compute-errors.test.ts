// Bad data and bad plans: a typed error with a message, never a crash; refusals before
// anything runs; a task past its time limit is stopped; a datasource's description shows no
// row value; the runner's thread survives all of it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { firstRound } from '../../src/compute/coordinator.js';
import { describeDatasource } from '../../src/compute/datasource.js';
import type { GroupedResult } from '../../src/compute/operations/column-groups.js';
import { parsePlan, type Plan } from '../../src/compute/plan.js';
import { TaskRunner, runTask } from '../../src/compute/run-task.js';
import { isMycelError, type MycelError } from '../../src/errors.js';
import { makeRows, resultsOf, runJob, spec, toCsv } from '../helpers/compute.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-compute-errors-'));
const runner = new TaskRunner();
after(async () => {
  await runner.close();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const meanOf = (columns: string[], datasource = 'd'): Plan => parsePlan({ version: 1, datasource, kind: 'statistics', operations: [{ op: 'mean', columns }] });

async function refusal(promise: Promise<unknown>): Promise<MycelError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isMycelError(err), `a MycelError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

function thrown(fn: () => unknown): MycelError {
  try {
    fn();
  } catch (err) {
    assert.ok(isMycelError(err), `a MycelError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

test('a ragged CSV is DATASOURCE_UNREADABLE naming the line, early or late in the file', async () => {
  const early = file('ragged-early.csv', 'a,b,c\n1,2,3\n4,5\n6,7,8\n');
  const err = await refusal(runner.run(firstRound(meanOf(['a'])).input, spec('d', early), { timeoutMs: 60_000 }));
  assert.equal(err.code, 'DATASOURCE_UNREADABLE');
  assert.equal(err.details?.reason, 'ragged');
  assert.equal(err.details?.line, 3);
  assert.match(err.message, /line 3 has 2 fields where the header has 3/);
  const lines = ['a,b'];
  for (let i = 0; i < 30_000; i++) lines.push(`${i},${i * 2}`);
  lines.push('1,2,3');
  const late = file('ragged-late.csv', lines.join('\n') + '\n');
  const lateErr = await refusal(runner.run(firstRound(meanOf(['a'])).input, spec('d', late), { timeoutMs: 60_000 }));
  assert.equal(lateErr.code, 'DATASOURCE_UNREADABLE');
  assert.equal(lateErr.details?.reason, 'ragged');
  assert.equal(lateErr.details?.line, 30_002);
  assert.ok(!lateErr.message.includes(late), 'the message names the datasource, not its path');
  assert.match(lateErr.message, /^datasource "d": /);
});

test('a non-numeric column is refused before running; a late non-numeric value names line and column, not the row', async () => {
  const text = file('text.csv', 'a,b\n1,x\n2,y\n');
  const err = await refusal(runner.run(firstRound(meanOf(['b'])).input, spec('d', text), { timeoutMs: 60_000 }));
  assert.equal(err.code, 'COLUMN_NOT_NUMERIC');
  assert.deepEqual(err.details, { column: 'b', type: 'VARCHAR', datasource: 'd' });
  const lines = ['a,b'];
  for (let i = 0; i < 30_000; i++) lines.push(`${i},${i * 2}`);
  lines.push('77777,"secret""-value to x"');
  const late = file('late-text.csv', lines.join('\n') + '\n');
  const lateErr = await refusal(runner.run(firstRound(meanOf(['b'])).input, spec('d', late), { timeoutMs: 60_000 }));
  assert.equal(lateErr.code, 'DATASOURCE_UNREADABLE');
  assert.equal(lateErr.details?.reason, 'conversion');
  assert.equal(lateErr.details?.line, 30_002);
  assert.equal(lateErr.details?.column, 'b');
  assert.ok(!lateErr.message.includes('77777') && !lateErr.message.includes('secret'), `no row value in: ${lateErr.message}`);
});

test('a missing file is DATASOURCE_UNREADABLE (missing), without its path', async () => {
  const err = await refusal(runner.run(firstRound(meanOf(['a'])).input, spec('d', join(dir, 'nope.csv')), { timeoutMs: 60_000 }));
  assert.equal(err.code, 'DATASOURCE_UNREADABLE');
  assert.equal(err.details?.reason, 'missing');
  assert.ok(!err.message.includes(dir));
  assert.equal((await refusal(describeDatasource(spec('d', join(dir, 'nope.csv'))))).code, 'DATASOURCE_UNREADABLE');
});

test('unknown operations and bad parameters are refused with their code and path before anything runs', () => {
  const base = { version: 1, datasource: 'd', kind: 'statistics' };
  const unknown = thrown(() => parsePlan({ ...base, operations: [{ op: 'mean', columns: ['a'] }, { op: 'eval', code: 'process.exit(1)' }] }));
  assert.equal(unknown.code, 'OPERATION_UNKNOWN');
  assert.deepEqual(unknown.details, { path: 'operations.1.op', op: 'eval' });
  const cases: Array<[unknown, string]> = [
    [{ ...base, operations: [{ op: 'mean', columns: ['a'], extra: 1 }] }, 'operations.0'],
    [{ ...base, operations: [{ op: 'mean', columns: [] }] }, 'operations.0.columns'],
    [{ ...base, operations: [{ op: 'quantiles', columns: ['a'], probabilities: [1.5] }] }, 'operations.0.probabilities.0'],
    [{ ...base, operations: [{ op: 'histogram', column: 'a', edges: [3, 2] }] }, 'operations.0.edges'],
    [{ ...base, operations: [{ op: 'variance', columns: ['a'], ddof: 2 }] }, 'operations.0.ddof'],
    [{ ...base, operations: [] }, 'operations'],
    [{ ...base, version: 2, operations: [{ op: 'count' }] }, 'version'],
    [{ ...base, datasource: '../etc/passwd', operations: [{ op: 'count' }] }, 'datasource'],
    [{ ...base, kind: 'fedavg' }, 'model'],
    [{ version: 1, datasource: 'd', kind: 'fedavg', model: 'linear', features: ['a'], target: 'a', rounds: 1, localEpochs: 1, learningRate: 0.1 }, 'target'],
    [{ ...base, kind: 'code', operations: [] }, 'kind'],
  ];
  for (const [input, path] of cases) {
    const err = thrown(() => parsePlan(input));
    assert.equal(err.code, 'PLAN_INVALID', JSON.stringify(input));
    assert.equal(err.details?.path, path, JSON.stringify(input));
  }
});

test('unknown and SQL-looking column names are refused before any aggregate; a real odd name is quoted, not spliced', async () => {
  const path = file('plain.csv', 'a,b\n1,2\n3,4\n');
  for (const column of ['c', 'a" FROM x; --', "a'); DROP TABLE t; --", 'A']) {
    const err = await refusal(runner.run(firstRound(meanOf([column])).input, spec('d', path), { timeoutMs: 60_000 }));
    assert.equal(err.code, 'COLUMN_NOT_FOUND', column);
    assert.equal(err.details?.column, column);
  }
  const odd = 'x"; SELECT 1; --';
  const oddPath = file('odd.csv', `"${odd.replaceAll('"', '""')}",g\n1,a\n3,a\n${Array.from({ length: 10 }, (_, i) => `${i},b`).join('\n')}\n`);
  const res = await runJob(runner, parsePlan({ version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'sum', columns: [odd], groupBy: ['g'] }] }), [spec('d', oddPath)], { k: 1 });
  const sums = (resultsOf(res)[0]!.result as GroupedResult<number>).groups.map((g) => [g.key[0], g.values[0]]);
  assert.deepEqual(sums, [['a', 4], ['b', 45]]);
});

test('a task past its time limit is TASK_TIMEOUT, and the runner goes on with a fresh thread', async () => {
  const path = file('long.csv', toCsv(makeRows(20_000, 7)));
  const plan = parsePlan({ version: 1, datasource: 'd', kind: 'fedavg', model: 'linear', features: ['x1', 'x2'], target: 'ylin', rounds: 1, localEpochs: 1000, learningRate: 0.01, batchSize: 1 });
  await runner.run(firstRound(meanOf(['x1'])).input, spec('d', path), { timeoutMs: 60_000 }); // the thread is up
  const started = Date.now();
  const err = await refusal(runner.run(firstRound(plan).input, spec('d', path), { timeoutMs: 1500 }));
  assert.equal(err.code, 'TASK_TIMEOUT');
  assert.deepEqual(err.details, { timeoutMs: 1500 });
  assert.ok(Date.now() - started < 10_000);
  const after = await runner.run(firstRound(meanOf(['x1'])).input, spec('d', path), { timeoutMs: 60_000 });
  assert.equal(after.rows, 20_000);
});

test('the one-shot runTask checks the task input in its thread', async () => {
  const err = await refusal(runTask({ kind: 'statistics', plan: { version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'shell' }] }, round: 1, requests: [{ index: 0 }] }, spec('d', '/nonexistent'), { timeoutMs: 60_000 }));
  assert.equal(err.code, 'OPERATION_UNKNOWN');
  const other = await refusal(runTask(firstRound(meanOf(['a'], 'other')).input, spec('d', '/nonexistent'), { timeoutMs: 60_000 }));
  assert.equal(other.code, 'PLAN_INVALID');
});

test('describeDatasource shows names, types and the row count of CSV, TSV and Parquet, and no value', async () => {
  const rows = makeRows(50, 3).map((r, i) => ({ ...r, site: `secret-site-${i}` }));
  const csv = file('desc.csv', toCsv(rows));
  const tsv = file('desc.tsv', toCsv(rows, '\t'));
  const parquet = join(dir, 'desc.parquet');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(`COPY (SELECT * FROM read_csv('${csv}', header = true)) TO '${parquet}' (FORMAT parquet)`);
  connection.closeSync();
  instance.closeSync();
  for (const [path, type] of [[csv, 'csv'], [tsv, 'tsv'], [parquet, 'parquet']] as const) {
    const d = await describeDatasource(spec('trial', path, type));
    assert.equal(d.rows, 50);
    assert.deepEqual(d.columns.map((c) => c.name), ['site', 'sex', 'age', 'bmi', 'x1', 'x2', 'ylin', 'ybin']);
    assert.deepEqual(d.columns.map((c) => c.numeric), [false, false, true, true, true, true, true, true]);
    const text = JSON.stringify(d);
    assert.ok(!text.includes('secret-site'), 'no text value');
    for (const r of rows) assert.ok(!text.includes(String(r.age)) && !text.includes(String(r.x1)), 'no number value');
  }
  const fromParquet = await runJob(runner, meanOf(['age'], 'trial'), [spec('trial', parquet, 'parquet')], { k: 1 });
  const fromCsv = await runJob(runner, meanOf(['age'], 'trial'), [spec('trial', csv)], { k: 1 });
  assert.deepEqual(resultsOf(fromParquet), resultsOf(fromCsv));
});
