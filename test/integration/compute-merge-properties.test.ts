// Properties of the merges, without DuckDB: merging the summaries of any split of the values
// gives the summary of all of them (in any order, any grouping); FedAvg with one full-batch
// local epoch is pooled gradient descent; binned quantiles keep their bound; the coordinator
// refuses outputs that do not fit their round before merging anything.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { firstRound, mergeRound } from '../../src/compute/coordinator.js';
import { averageUpdates, trainLocal, type TrainingData } from '../../src/compute/fedavg.js';
import { mergeCoMoments } from '../../src/compute/operations/correlation.js';
import type { GroupKey } from '../../src/compute/operations/groups.js';
import { mergeMoments, type Moments } from '../../src/compute/operations/moments.js';
import { quantileFromBins } from '../../src/compute/operations/quantiles.js';
import { listOperations } from '../../src/compute/operations/registry.js';
import { parsePlan } from '../../src/compute/plan.js';
import { parseTaskInput } from '../../src/compute/task.js';
import { isMycelError } from '../../src/errors.js';
import { close } from '../helpers/compute.js';

const value = fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true });

function moments(xs: readonly number[]): Moments {
  if (xs.length === 0) return { n: 0, mean: 0, m2: 0 };
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  return { n: xs.length, mean, m2: xs.reduce((s, x) => s + (x - mean) ** 2, 0) };
}

/** Splits xs at the given cut points (sorted, deduplicated). */
function split<T>(xs: readonly T[], cuts: number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (xs.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let from = 0;
  for (const p of [...points, xs.length]) {
    out.push(xs.slice(from, p));
    from = p;
  }
  return out;
}

const momentsClose = (a: Moments, b: Moments): boolean => a.n === b.n && close(a.mean, b.mean) && Math.abs(a.m2 - b.m2) <= 1e-9 * Math.max(1, b.m2, b.mean * b.mean * b.n);

test('merged moments of any split equal the moments of all values, in any order', () => {
  fc.assert(
    fc.property(fc.array(value, { minLength: 1, maxLength: 200 }), fc.array(fc.nat(), { maxLength: 6 }), (xs, cuts) => {
      const whole = moments(xs);
      const parts = split(xs, cuts).map(moments);
      const left = parts.reduce(mergeMoments);
      const right = [...parts].reverse().reduce(mergeMoments);
      assert.ok(momentsClose(left, whole), `${JSON.stringify(left)} vs ${JSON.stringify(whole)}`);
      assert.ok(momentsClose(right, whole));
      if (parts.length >= 3) {
        const [a, b, c] = parts as [Moments, Moments, Moments];
        assert.ok(momentsClose(mergeMoments(mergeMoments(a, b), c), mergeMoments(a, mergeMoments(b, c))));
      }
    }),
    { numRuns: 300 },
  );
});

test('merged co-moments of any split equal the co-moments of all rows', () => {
  const row = fc.tuple(value, value, value);
  fc.assert(
    fc.property(fc.array(row, { minLength: 1, maxLength: 100 }), fc.array(fc.nat(), { maxLength: 5 }), (rows, cuts) => {
      const summary = (rs: ReadonlyArray<readonly number[]>) => {
        const m = [0, 1, 2].map((j) => (rs.length === 0 ? 0 : rs.reduce((s, r) => s + (r[j] as number), 0) / rs.length));
        return {
          key: [] as GroupKey,
          rows: rs.length,
          means: m,
          comoments: [0, 1, 2].map((i) => [0, 1, 2].map((j) => rs.reduce((s, r) => s + ((r[i] as number) - (m[i] as number)) * ((r[j] as number) - (m[j] as number)), 0))),
        };
      };
      const whole = summary(rows);
      const merged = split(rows, cuts).map(summary).reduce(mergeCoMoments);
      assert.equal(merged.rows, whole.rows);
      whole.comoments.forEach((r, i) =>
        r.forEach((c, j) => {
          const diag = [whole.comoments[i]![i]!, whole.comoments[j]![j]!].map(Math.abs) as [number, number];
          const means = Math.abs(whole.means[i]! * whole.means[j]!) * rows.length;
          const scale = Math.max(1, diag[0], diag[1], means);
          assert.ok(Math.abs(merged.comoments[i]![j]! - c) <= 1e-9 * scale, `C[${i}][${j}]`);
        }),
      );
    }),
    { numRuns: 200 },
  );
});

test('FedAvg with one full-batch local epoch is gradient descent on the pooled data', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.double({ min: -3, max: 3, noNaN: true }), fc.double({ min: -3, max: 3, noNaN: true })), { minLength: 4, maxLength: 60 }), fc.nat(), (pairs, cut) => {
      const data = (ps: Array<[number, number]>): TrainingData => ({ rows: ps.length, features: 1, x: Float64Array.from(ps.map((p) => p[0])), y: Float64Array.from(ps.map((p) => p[1])) });
      const plan = { model: 'linear' as const, localEpochs: 1, learningRate: 0.1, l2: 0.01 };
      const c = 1 + (cut % (pairs.length - 1));
      let pooled = [0, 0];
      let federated = [0, 0];
      for (let round = 0; round < 5; round++) {
        pooled = trainLocal(plan, pooled, data(pairs));
        federated = averageUpdates([pairs.slice(0, c), pairs.slice(c)].map((ps) => ({ rows: ps.length, weights: trainLocal(plan, federated, data(ps)) })));
      }
      pooled.forEach((w, i) => assert.ok(close(federated[i]!, w, 1e-9), `${federated[i]} vs ${w}`));
    }),
    { numRuns: 100 },
  );
});

test('binned quantiles are within (max − min) / bins of the exact quantiles', () => {
  fc.assert(
    fc.property(fc.array(value, { minLength: 1, maxLength: 300 }), fc.integer({ min: 2, max: 64 }), fc.double({ min: 0, max: 1, noNaN: true }), (xs, bins, p) => {
      const sorted = [...xs].sort((a, b) => a - b);
      const min = sorted[0]!;
      const max = sorted.at(-1)!;
      const counts = new Map<number, number>();
      for (const x of xs) {
        const b = max === min ? 0 : Math.min(bins - 1, Math.max(0, Math.floor(((x - min) / (max - min)) * bins)));
        counts.set(b, (counts.get(b) ?? 0) + 1);
      }
      const h = (xs.length - 1) * p;
      const f = Math.floor(h);
      const exact = sorted[f]! + (h - f) * (sorted[Math.ceil(h)]! - sorted[f]!);
      const got = quantileFromBins(counts, { n: xs.length, min, max }, bins, p);
      const bound = (max - min) / bins;
      assert.ok(Math.abs(got - exact) <= bound * (1 + 1e-9) + 1e-9 * Math.max(1, Math.abs(exact)), `${got} vs ${exact}, bound ${bound}`);
    }),
    { numRuns: 300 },
  );
});

test('the coordinator refuses outputs that do not fit their round, naming the client', () => {
  const plan = parsePlan({ version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'mean', columns: ['a', 'b'] }] });
  const state = firstRound(plan);
  const good = { kind: 'statistics', round: 1, rows: 3, partials: [{ index: 0, partial: { groups: [{ key: [], rows: 3, values: [{ n: 3, mean: 1, m2: 0 }, { n: 3, mean: 2, m2: 1 }] }] } }] };
  assert.ok('result' in mergeRound(state, [{ clientId: 'a', output: good }], { k: 1 }));
  const bad: unknown[] = [
    { ...good, round: 2 },
    { ...good, kind: 'fedavg' },
    { ...good, partials: [] },
    { ...good, partials: [{ index: 0, partial: { groups: [{ key: [], rows: 3, values: [{ n: 3, mean: 1, m2: 0 }] }] } }] },
    { ...good, partials: [{ index: 0, partial: { groups: [{ key: [], rows: 3, values: [{ n: 3, mean: 1, m2: -1 }, { n: 3, mean: 2, m2: 1 }] }] } }] },
    { ...good, rows: -1 },
    { ...good, extra: true },
  ];
  for (const output of bad) {
    assert.throws(
      () => mergeRound(state, [{ clientId: 'a', output: good }, { clientId: 'evil', output }]),
      (err: unknown) => isMycelError(err) && err.code === 'TASK_OUTPUT_INVALID' && err.details?.clientId === 'evil',
      JSON.stringify(output),
    );
  }
  assert.throws(() => mergeRound(state, []), (err: unknown) => isMycelError(err) && err.code === 'TASK_OUTPUT_INVALID');
});

test('quantiles: round-2 counts that do not add up to round 1, or bins out of range, are refused', () => {
  const plan = parsePlan({ version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'quantiles', columns: ['a'], probabilities: [0.5], bins: 4 }] });
  const round1 = { kind: 'statistics', round: 1, rows: 20, partials: [{ index: 0, partial: { groups: [{ key: [], rows: 20, values: [{ n: 20, min: 0, max: 8 }] }] } }] };
  const step = mergeRound(firstRound(plan), [{ clientId: 'a', output: round1 }]);
  assert.ok('next' in step);
  assert.deepEqual(step.next.input, { kind: 'statistics', plan, round: 2, requests: [{ index: 0, request: { groups: [{ key: [], ranges: [[0, 8]] }] } }] });
  const round2 = (bins: Array<[number, number]>) => ({ kind: 'statistics', round: 2, rows: 20, partials: [{ index: 0, partial: { columns: [[{ key: [], bins }]] } }] });
  const done = mergeRound(step.next, [{ clientId: 'a', output: round2([[0, 5], [1, 5], [2, 5], [3, 5]]) }]);
  assert.ok('result' in done);
  const refused = (bins: Array<[number, number]>): boolean => {
    try {
      mergeRound(step.next, [{ clientId: 'a', output: round2(bins) }]);
      return false;
    } catch (err) {
      return isMycelError(err) && err.code === 'TASK_OUTPUT_INVALID';
    }
  };
  assert.ok(refused([[0, 5], [1, 5], [2, 5]]), 'counts short of n');
  assert.ok(refused([[0, 5], [1, 5], [2, 5], [4, 5]]), 'a bin past the last');
});

test('a client checks the task it is sent: envelope, plan and weights', () => {
  const plan = { version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'count' }] };
  const fed = { version: 1, datasource: 'd', kind: 'fedavg', model: 'linear', features: ['a', 'b'], target: 'y', rounds: 1, localEpochs: 1, learningRate: 0.1 };
  const cases: Array<[unknown, string, string]> = [
    [{ kind: 'statistics', plan, round: 0, requests: [{ index: 0 }] }, 'PLAN_INVALID', 'task.round'],
    [{ kind: 'statistics', plan, round: 1, requests: [{ index: 1 }] }, 'PLAN_INVALID', 'task.requests'],
    [{ kind: 'statistics', plan: { ...plan, operations: [{ op: 'exec' }] }, round: 1, requests: [{ index: 0 }] }, 'OPERATION_UNKNOWN', 'operations.0.op'],
    [{ kind: 'fedavg', plan, round: 1, phase: 'train', weights: [0] }, 'PLAN_INVALID', 'task.kind'],
    [{ kind: 'fedavg', plan: fed, round: 1, phase: 'train', weights: [0, 0] }, 'PLAN_INVALID', 'task.weights'],
    [{ kind: 'fedavg', plan: fed, round: 1, phase: 'train', weights: [0, 0, 0], code: 'x' }, 'PLAN_INVALID', 'task'],
  ];
  for (const [input, code, path] of cases) {
    assert.throws(() => parseTaskInput(input), (err: unknown) => isMycelError(err) && err.code === code && err.details?.path === path, JSON.stringify(input));
  }
  assert.equal(parseTaskInput({ kind: 'fedavg', plan: fed, round: 1, phase: 'train', weights: [0, 0, 0] }).kind, 'fedavg');
});

test('docs/compute.md lists every registered operation, and no other', () => {
  const text = readFileSync(new URL('../../docs/compute.md', import.meta.url), 'utf8');
  const documented = [...text.matchAll(/^\| `([a-z]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented, listOperations().map((op) => op.name));
});
