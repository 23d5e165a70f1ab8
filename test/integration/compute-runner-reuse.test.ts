// What a TaskRunner's thread keeps between tasks (task-worker.ts): the training data of a
// FedAvg job's rounds and the column types of the files it read. Kept data must never stand in
// for a file that changed, and a typed read must give what the sniffed read gave. Also: a
// statistics plan of one query reads the file directly and still counts every row.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { firstRound } from '../../src/compute/coordinator.js';
import { parsePlan } from '../../src/compute/plan.js';
import { TaskRunner, runTask } from '../../src/compute/run-task.js';
import type { TaskOutput } from '../../src/compute/task.js';
import { isMycelError } from '../../src/errors.js';
import { makeRows, spec, toCsv } from '../helpers/compute.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-compute-reuse-'));
const runners: TaskRunner[] = [];
after(async () => {
  await Promise.all(runners.map((r) => r.close()));
  rmSync(dir, { recursive: true, force: true });
});

function newRunner(): TaskRunner {
  const runner = new TaskRunner();
  runners.push(runner);
  return runner;
}

const options = { timeoutMs: 120_000, threads: 1 };
const fedavg = parsePlan({ version: 1, datasource: 'd', kind: 'fedavg', model: 'linear', features: ['x1', 'x2'], target: 'ylin', rounds: 3, localEpochs: 1, learningRate: 0.1 });

test('a FedAvg job\'s later rounds run on the rows kept from the first; a changed file is read again, even at the same size and mtime', async () => {
  const path = join(dir, 'train.csv');
  const stamp = 1_700_000_000; // a whole second: set again exactly after the rewrite below
  writeFileSync(path, toCsv(makeRows(400, 1)));
  utimesSync(path, stamp, stamp);
  const runner = newRunner();
  const input = firstRound(fedavg).input;
  const first = await runner.run(input, spec('d', path), options);
  assert.deepEqual(runner.reads, { kept: 0, typed: 0, sniffed: 1 });
  const again = await runner.run(input, spec('d', path), options);
  assert.deepEqual(runner.reads, { kept: 1, typed: 0, sniffed: 1 });
  assert.deepEqual(again, first);

  // Other rows of exactly the same byte length (x1 and x2 swapped on every line), and the same modification time set again.
  const before = statSync(path, { bigint: true });
  const text = toCsv(makeRows(400, 1));
  const changed = text
    .split('\n')
    .map((line, i) => {
      if (i === 0 || line === '') return line;
      const f = line.split(',');
      [f[4], f[5]] = [f[5]!, f[4]!];
      return f.join(',');
    })
    .join('\n');
  assert.notEqual(changed, text);
  assert.equal(Buffer.byteLength(changed), Buffer.byteLength(text));
  writeFileSync(path, changed);
  utimesSync(path, stamp, stamp);
  assert.equal(statSync(path, { bigint: true }).size, before.size);
  assert.equal(statSync(path, { bigint: true }).mtimeNs, before.mtimeNs);
  const fresh = await runTask(input, spec('d', path), options);
  const afterChange = await runner.run(input, spec('d', path), options);
  assert.equal(runner.reads.kept, 1, 'the changed file was read again');
  assert.deepEqual(afterChange, fresh);
  assert.notDeepEqual(afterChange, first);

  // Another plan on the same file does not get the kept rows of the first.
  const logistic = parsePlan({ ...fedavg, model: 'logistic', target: 'ybin' });
  const other = await runner.run(firstRound(logistic).input, spec('d', path), options);
  assert.deepEqual(other, await runTask(firstRound(logistic).input, spec('d', path), options));
  assert.equal(runner.reads.kept, 1);
});

const awkward = [
  'name,flag,n,amount,label',
  '"Smith, J.",true,1,2.5,"say ""hi"""',
  'Doe,false,2,,plain',
  ',true,,3.25,',
  '"multi',
  'line",false,4,-1e3,x',
  'Roe,true,5,0.125,"a,b"',
].join('\r\n') + '\r\n';

test('a file read with its kept column types gives what the sniffed read gave (CRLF, quotes, empty values, booleans)', async () => {
  const path = join(dir, 'awkward.csv');
  writeFileSync(path, awkward);
  const plan = parsePlan({
    version: 1,
    datasource: 'd',
    kind: 'statistics',
    operations: [
      { op: 'count', groupBy: ['flag'] },
      { op: 'mean', columns: ['n', 'amount'], groupBy: ['label'] },
      { op: 'min', columns: ['amount'] },
      { op: 'crosstab', row: 'name', column: 'flag' },
    ],
  });
  const runner = newRunner();
  const sniffed = await runner.run(firstRound(plan).input, spec('d', path), options);
  const typed = await runner.run(firstRound(plan).input, spec('d', path), options);
  assert.deepEqual(runner.reads, { kept: 0, typed: 1, sniffed: 1 });
  assert.deepEqual(typed, sniffed);
  assert.equal((sniffed as Extract<TaskOutput, { kind: 'statistics' }>).rows, 5);

  // The file rewritten with text in a numeric column: sniffed afresh, refused as a fresh runner refuses it.
  writeFileSync(path, awkward.replace('0.125', 'lots'));
  const refusal = await runner.run(firstRound(plan).input, spec('d', path), options).then(
    () => assert.fail('expected a refusal'),
    (err: unknown) => err,
  );
  assert.ok(isMycelError(refusal));
  assert.equal(refusal.code, 'COLUMN_NOT_NUMERIC');
  assert.equal(runner.reads.typed, 1);
});

test('a plan of one grouped query reads the file directly and counts every row, null keys included', async () => {
  const path = join(dir, 'groups.csv');
  writeFileSync(path, 'g,x\na,1\nb,2\n,3\na,4\n,5\n');
  const plan = parsePlan({ version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'sum', columns: ['x'], groupBy: ['g'] }, { op: 'max', columns: ['x'], groupBy: ['g'] }] });
  const output = (await newRunner().run(firstRound(plan).input, spec('d', path), options)) as Extract<TaskOutput, { kind: 'statistics' }>;
  assert.equal(output.rows, 5);
  const ungrouped = parsePlan({ version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'count' }] });
  const empty = join(dir, 'empty.csv');
  writeFileSync(empty, 'g,x\n');
  assert.equal(((await newRunner().run(firstRound(ungrouped).input, spec('d', empty), options)) as Extract<TaskOutput, { kind: 'statistics' }>).rows, 0);
});
