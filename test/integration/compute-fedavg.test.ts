// FedAvg over three CSV clients through runTask and the coordinator: linear and logistic
// regression reach the loss of the model fitted on the pooled data within 1e-3; the same job
// gives the same weights twice; bad targets and too large a learning rate are typed errors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { JobResult } from '../../src/compute/coordinator.js';
import { modelLoss, type TrainingData } from '../../src/compute/fedavg.js';
import { parsePlan, type FedAvgPlan } from '../../src/compute/plan.js';
import { TaskRunner } from '../../src/compute/run-task.js';
import { isMycelError } from '../../src/errors.js';
import { makeRows, runJob, writeSplit, type Row } from '../helpers/compute.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-compute-fedavg-'));
const rows = makeRows(3000, 11);
const { parts } = writeSplit(dir, rows);
const runner = new TaskRunner();
after(async () => {
  await runner.close();
  rmSync(dir, { recursive: true, force: true });
});

function pooledData(target: 'ylin' | 'ybin'): TrainingData {
  return {
    rows: rows.length,
    features: 2,
    x: Float64Array.from(rows.flatMap((r) => [r.x1, r.x2])),
    y: Float64Array.from(rows.map((r: Row) => r[target])),
  };
}

/** Solves A w = b (3×3) by Gaussian elimination. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i] as number]);
  for (let c = 0; c < n; c++) {
    const p = m.reduce((best, row, r) => (r >= c && Math.abs(row[c] as number) > Math.abs(m[best]![c] as number) ? r : best), c);
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = (m[r]![c] as number) / (m[c]![c] as number);
      for (let k = c; k <= n; k++) m[r]![k] = (m[r]![k] as number) - f * (m[c]![k] as number);
    }
  }
  return m.map((row, i) => (row[n] as number) / (row[i] as number));
}

/** The pooled optimum by Newton's method (exact in one step for squared loss): weights [w1, w2, b]. */
function pooledOptimum(model: 'linear' | 'logistic', l2: number, data: TrainingData): number[] {
  let w = [0, 0, 0];
  for (let it = 0; it < (model === 'linear' ? 1 : 50); it++) {
    const g = [0, 0, 0];
    const h = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
    for (let i = 0; i < data.rows; i++) {
      const x = [data.x[2 * i] as number, data.x[2 * i + 1] as number, 1];
      const z = (w[0] as number) * (x[0] as number) + (w[1] as number) * (x[1] as number) + (w[2] as number);
      const p = model === 'linear' ? z : 1 / (1 + Math.exp(-z));
      const s = model === 'linear' ? 1 : p * (1 - p);
      for (let a = 0; a < 3; a++) {
        g[a] = (g[a] as number) + ((p - (data.y[i] as number)) * (x[a] as number)) / data.rows;
        for (let b = 0; b < 3; b++) h[a]![b] = (h[a]![b] as number) + (s * (x[a] as number) * (x[b] as number)) / data.rows;
      }
    }
    for (let a = 0; a < 2; a++) {
      g[a] = (g[a] as number) + l2 * (w[a] as number);
      h[a]![a] = (h[a]![a] as number) + l2;
    }
    const step = solve(h, g);
    w = w.map((v, a) => v - (step[a] as number));
  }
  return w;
}

type FedAvgResult = Extract<JobResult, { kind: 'fedavg' }>;

for (const [model, target, settings] of [
  ['linear', 'ylin', { rounds: 8, localEpochs: 10, learningRate: 0.5, l2: 0.001 }],
  ['logistic', 'ybin', { rounds: 12, localEpochs: 20, learningRate: 2, l2: 0.001 }],
] as const) {
  test(`FedAvg ${model} reaches the pooled model's loss within 1e-3`, async () => {
    const plan = parsePlan({ version: 1, datasource: 'trial', kind: 'fedavg', model, features: ['x1', 'x2'], target, ...settings }) as FedAvgPlan;
    const res = (await runJob(runner, plan, parts)) as FedAvgResult;
    assert.equal(res.rounds, settings.rounds);
    assert.equal(res.rows, 3000);
    assert.equal(res.lossHistory.length, settings.rounds);
    const data = pooledData(target);
    const optimum = modelLoss(plan, pooledOptimum(model, settings.l2, data), data);
    const w = [...res.weights!.coefficients, res.weights!.intercept!];
    assert.ok(Math.abs(modelLoss(plan, w, data) - res.loss!) < 1e-12, 'the reported loss is the pooled loss of the final model');
    assert.ok(res.loss! - optimum < 1e-3, `FedAvg loss ${res.loss} vs pooled optimum ${optimum}`);
    assert.ok(res.loss! - optimum > -1e-9, 'no model beats the optimum');
    assert.ok(res.lossHistory[0]! > res.loss! + 0.05, 'training lowered the loss');
  });
}

test('the same FedAvg job gives the same weights twice; a partial batch size works', async () => {
  const plan = parsePlan({ version: 1, datasource: 'trial', kind: 'fedavg', model: 'logistic', features: ['x1', 'x2'], target: 'ybin', rounds: 2, localEpochs: 2, learningRate: 0.5, batchSize: 64 });
  const a = (await runJob(runner, plan, parts)) as FedAvgResult;
  const b = (await runJob(runner, plan, parts)) as FedAvgResult;
  assert.deepEqual(a.weights, b.weights);
  assert.equal(a.loss, b.loss);
});

test('a non-binary logistic target is COLUMN_NOT_BINARY; a diverging model is MODEL_DIVERGED; too few rows are suppressed', async () => {
  const bad = parsePlan({ version: 1, datasource: 'trial', kind: 'fedavg', model: 'logistic', features: ['x1'], target: 'ylin', rounds: 1, localEpochs: 1, learningRate: 0.1 });
  await assert.rejects(runJob(runner, bad, parts.slice(0, 1)), (err: unknown) => isMycelError(err) && err.code === 'COLUMN_NOT_BINARY' && err.details?.column === 'ylin');
  const wild = parsePlan({ version: 1, datasource: 'trial', kind: 'fedavg', model: 'linear', features: ['age', 'bmi'], target: 'ylin', rounds: 3, localEpochs: 50, learningRate: 100 });
  await assert.rejects(runJob(runner, wild, parts.slice(0, 1)), (err: unknown) => isMycelError(err) && err.code === 'MODEL_DIVERGED');
  const few = parsePlan({ version: 1, datasource: 'trial', kind: 'fedavg', model: 'linear', features: ['x1'], target: 'ylin', rounds: 1, localEpochs: 1, learningRate: 0.1 });
  const res = (await runJob(runner, few, parts.slice(0, 1), { k: 5000 })) as FedAvgResult;
  assert.equal(res.suppressed, true);
  assert.equal(res.weights, null);
});
