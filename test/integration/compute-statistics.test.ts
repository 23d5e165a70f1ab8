// Every statistics operation, federated over three clients' CSV files through runTask and the
// coordinator, against the same computation on the pooled file (DuckDB in this process, or an
// exact JS computation): within 1e-9, with and without groupBy, with small cells suppressed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { JobResult } from '../../src/compute/coordinator.js';
import type { CrosstabResult } from '../../src/compute/operations/crosstab.js';
import type { CorrelationResult } from '../../src/compute/operations/correlation.js';
import type { GroupedResult } from '../../src/compute/operations/column-groups.js';
import type { HistogramResult } from '../../src/compute/operations/histogram.js';
import type { QuantilesResult } from '../../src/compute/operations/quantiles.js';
import { parsePlan } from '../../src/compute/plan.js';
import { TaskRunner } from '../../src/compute/run-task.js';
import { close, makeRows, pooledQuery, runJob, writeSplit, type Row } from '../helpers/compute.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-compute-stats-'));
const rows = makeRows(3000, 42);
const { pooled, parts } = writeSplit(dir, rows);
const runner = new TaskRunner();
after(async () => {
  await runner.close();
  rmSync(dir, { recursive: true, force: true });
});

const operations = [
  { op: 'count' },
  { op: 'count', groupBy: ['site'] },
  { op: 'sum', columns: ['age', 'bmi'] },
  { op: 'sum', columns: ['age', 'bmi'], groupBy: ['site', 'sex'] },
  { op: 'mean', columns: ['age', 'bmi', 'ylin'] },
  { op: 'mean', columns: ['age', 'bmi'], groupBy: ['site', 'sex'] },
  { op: 'variance', columns: ['age', 'bmi'] },
  { op: 'variance', columns: ['age', 'bmi'], groupBy: ['site'], ddof: 0 },
  { op: 'std', columns: ['age', 'bmi'], groupBy: ['site', 'sex'] },
  { op: 'min', columns: ['age', 'bmi'], groupBy: ['site'] },
  { op: 'max', columns: ['age', 'bmi'] },
  { op: 'quantiles', columns: ['age', 'bmi'], probabilities: [0, 0.1, 0.25, 0.5, 0.9, 1] },
  { op: 'quantiles', columns: ['x1'], probabilities: [0.05, 0.5, 0.95], groupBy: ['site'], bins: 500 },
  { op: 'histogram', column: 'bmi', edges: [10, 20, 22.5, 25, 27.5, 30, 40] },
  { op: 'histogram', column: 'age', edges: [20, 40, 60, 80], groupBy: ['site'] },
  { op: 'crosstab', row: 'site', column: 'sex' },
  { op: 'correlation', columns: ['x1', 'x2', 'ylin', 'bmi'] },
  { op: 'correlation', columns: ['x1', 'ylin'], groupBy: ['sex'] },
] as const;

let federated: Extract<JobResult, { kind: 'statistics' }> & { roundsRun: number };
let single: Extract<JobResult, { kind: 'statistics' }>;
let unsuppressed: Extract<JobResult, { kind: 'statistics' }>;

before(async () => {
  const plan = parsePlan({ version: 1, datasource: 'trial', kind: 'statistics', operations });
  federated = (await runJob(runner, plan, parts)) as typeof federated;
  single = (await runJob(runner, plan, [pooled])) as typeof single;
  unsuppressed = (await runJob(runner, plan, parts, { k: 1 })) as typeof unsuppressed;
});

const result = <T>(i: number, job: { results: Array<{ result: unknown }> } = federated): T => job.results[i]!.result as T;
const key = (k: Array<string | null>): string => JSON.stringify(k);

/** Pooled aggregates by group, from DuckDB on the pooled file. */
async function reference(select: string, groupBy: string[]): Promise<Map<string, Record<string, unknown>>> {
  const g = groupBy.map((c, i) => `CAST(${c} AS VARCHAR) AS g${i}, `).join('');
  const rowsOut = await pooledQuery(pooled.path, `SELECT ${g}count(*) AS rows, ${select} FROM t ${groupBy.length ? 'GROUP BY ALL' : ''}`);
  return new Map(rowsOut.map((r) => [key(groupBy.map((_, i) => (r[`g${i}`] as string | null) ?? null)), r]));
}

function assertGrouped(res: GroupedResult<number>, ref: Map<string, Record<string, unknown>>, fields: string[], k = 10): void {
  const expectedKept = [...ref.entries()].filter(([, r]) => Number(r.rows) >= k);
  assert.equal(res.groups.length, expectedKept.length, 'kept groups');
  assert.equal(res.suppressed, ref.size - expectedKept.length, 'suppressed groups');
  for (const group of res.groups) {
    const r = ref.get(key(group.key));
    assert.ok(r, `group ${key(group.key)} is in the pooled data`);
    assert.equal(group.rows, Number(r.rows));
    fields.forEach((f, i) => {
      const want = Number(r[f]);
      const got = group.values[i] as number;
      assert.ok(close(got, want), `${key(group.key)} ${f}: federated ${got}, pooled ${want}`);
    });
  }
}

test('a statistics job runs in one round, two with quantiles, and small groups are left out', () => {
  assert.equal(federated.roundsRun, 2);
  assert.equal(federated.clients, 3);
  const bySite = result<GroupedResult<number>>(1);
  assert.deepEqual(bySite.groups.map((g) => g.key), [['A'], ['B'], ['C'], ['D']], 'site E (under 10 rows pooled) is absent');
  assert.equal(bySite.suppressed, 1);
  const all = result<GroupedResult<number>>(1, unsuppressed);
  assert.ok(all.groups.some((g) => g.key[0] === 'E' && g.rows > 0 && g.rows < 10), 'with k = 1 site E is reported');
  assert.equal(result<GroupedResult<number>>(0).groups[0]!.rows, 3000);
});

test('count, sum, mean, variance, std, min and max equal the pooled computation within 1e-9', async () => {
  assertGrouped(result(1), await reference('1 AS one', ['site']), []);
  assertGrouped(result(2), await reference('sum(age) AS a, sum(bmi) AS b', []), ['a', 'b']);
  assertGrouped(result(3), await reference('sum(age) AS a, sum(bmi) AS b', ['site', 'sex']), ['a', 'b']);
  assertGrouped(result(4), await reference('avg(age) AS a, avg(bmi) AS b, avg(ylin) AS c', []), ['a', 'b', 'c']);
  assertGrouped(result(5), await reference('avg(age) AS a, avg(bmi) AS b', ['site', 'sex']), ['a', 'b']);
  assertGrouped(result(6), await reference('var_samp(age) AS a, var_samp(bmi) AS b', []), ['a', 'b']);
  assertGrouped(result(7), await reference('var_pop(age) AS a, var_pop(bmi) AS b', ['site']), ['a', 'b']);
  assertGrouped(result(8), await reference('stddev_samp(age) AS a, stddev_samp(bmi) AS b', ['site', 'sex']), ['a', 'b']);
  assertGrouped(result(9), await reference('min(age) AS a, min(bmi) AS b', ['site']), ['a', 'b']);
  assertGrouped(result(10), await reference('max(age) AS a, max(bmi) AS b', []), ['a', 'b']);
});

/** The exact type-7 quantile of sorted values. */
function exactQuantile(sorted: number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const f = Math.floor(h);
  const lo = sorted[f] as number;
  return h === f ? lo : lo + (h - f) * ((sorted[Math.ceil(h)] as number) - lo);
}

test('quantiles are within their stated error bound of the exact pooled quantiles, and do not depend on the split', () => {
  const check = (res: QuantilesResult, pick: (r: Row) => number | null, groupOf: (r: Row) => string[]): void => {
    for (const group of res.groups) {
      res.columns.forEach((column, c) => {
        const values = rows
          .filter((r) => key(groupOf(r)) === key(group.key as string[]))
          .map((r) => (column === 'age' ? r.age : column === 'bmi' ? r.bmi : column === 'x1' ? r.x1 : pick(r)))
          .filter((v): v is number => v !== null)
          .sort((a, b) => a - b);
        const value = group.values[c]!;
        assert.equal(value.n, values.length);
        assert.ok(value.errorBound > 0 && value.errorBound <= ((values.at(-1)! - values[0]!) / res.bins) * (1 + 1e-12));
        res.probabilities.forEach((p, i) => {
          const exact = exactQuantile(values, p);
          const got = value.quantiles[i] as number;
          assert.ok(Math.abs(got - exact) <= value.errorBound * (1 + 1e-9), `${column} ${key(group.key)} p=${p}: ${got} vs exact ${exact} (bound ${value.errorBound})`);
          if (p === 0 || p === 1) assert.equal(got, exact, 'p = 0 and 1 are the exact min and max');
        });
      });
    }
  };
  check(result(11), () => null, () => []);
  const grouped = result<QuantilesResult>(12);
  assert.deepEqual(grouped.groups.map((g) => g.key), [['A'], ['B'], ['C'], ['D']]);
  check(grouped, () => null, (r) => [r.site]);
  assert.deepEqual(result(11), result(11, single), 'three clients and one pooled client give the same quantiles');
  assert.deepEqual(result(12), result(12, single));
});

test('histograms count exactly what the pooled rows hold, small bins as null', () => {
  const h = result<HistogramResult>(13);
  const edges = h.edges;
  const counts = new Array<number>(edges.length - 1).fill(0);
  let below = 0;
  let above = 0;
  for (const r of rows) {
    if (r.bmi === null) continue;
    if (r.bmi < edges[0]!) below++;
    else if (r.bmi > edges.at(-1)!) above++;
    else {
      let b = edges.findIndex((e, i) => i < edges.length - 1 && r.bmi! >= e && (r.bmi! < edges[i + 1]! || (i === edges.length - 2 && r.bmi === edges[i + 1])));
      counts[b]!++;
    }
  }
  const small = (c: number): number | null => (c > 0 && c < 10 ? null : c);
  assert.deepEqual(h.groups[0]!.counts, counts.map(small));
  assert.equal(h.groups[0]!.below, small(below));
  assert.equal(h.groups[0]!.above, small(above));
  assert.deepEqual(result<HistogramResult>(13, unsuppressed).groups[0]!.counts, counts, 'with k = 1 every count is reported');
  const bySite = result<HistogramResult>(14);
  for (const g of bySite.groups) {
    const siteRows = rows.filter((r) => r.site === g.key[0]);
    const want = [0, 0, 0];
    for (const r of siteRows) want[r.age >= 60 ? 2 : r.age >= 40 ? 1 : 0]!++;
    assert.deepEqual(g.counts, want.map(small));
  }
  assert.equal(bySite.suppressed, 1);
});

test('crosstab counts equal the pooled counts; cells under k are null', async () => {
  const x = result<CrosstabResult>(15);
  const ref = await pooledQuery(pooled.path, 'SELECT site, sex, count(*) AS n FROM t GROUP BY ALL');
  let small = 0;
  for (const r of ref) {
    const n = Number(r.n);
    const cell = x.counts[x.rowValues.indexOf(r.site as string)]![x.columnValues.indexOf(r.sex as string)];
    if (n < 10) {
      small++;
      assert.equal(cell, null);
    } else assert.equal(cell, n);
  }
  assert.ok(small > 0, 'the data has small cells to suppress');
  assert.equal(x.suppressed, small);
});

test('correlation matrices equal the pooled Pearson correlations within 1e-9', async () => {
  const c = result<CorrelationResult>(16);
  const cols = c.columns;
  const complete = 'x1 IS NOT NULL AND x2 IS NOT NULL AND ylin IS NOT NULL AND bmi IS NOT NULL';
  const pairs = cols.flatMap((a, i) => cols.map((b, j) => `corr(${a}, ${b}) AS c${i}_${j}`));
  const [ref] = await pooledQuery(pooled.path, `SELECT count(*) AS n, ${pairs.join(', ')} FROM t WHERE ${complete}`);
  assert.equal(c.groups[0]!.rows, Number(ref!.n));
  cols.forEach((_, i) =>
    cols.forEach((__, j) => {
      const want = i === j ? 1 : Number(ref![`c${i}_${j}`]);
      assert.ok(close(c.groups[0]!.matrix[i]![j] as number, want), `r[${i}][${j}]`);
    }),
  );
  const bySex = result<CorrelationResult>(17);
  const refSex = await pooledQuery(pooled.path, 'SELECT sex, corr(x1, ylin) AS r FROM t GROUP BY sex');
  for (const g of bySex.groups) {
    const want = Number(refSex.find((r) => r.sex === g.key[0])!.r);
    assert.ok(close(g.matrix[0]![1] as number, want));
  }
});
