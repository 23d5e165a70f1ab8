// Federated statistics on one client against a plain JavaScript loop, in one run, on the same
// CSV file (1,000,000 rows by default: a group column and three numeric columns, ~40 MB):
//   mycel:  runTask with a statistics plan (count, sum, mean, variance, std, min, max by group
//           over two columns, a 10-bin histogram, a 3-column correlation matrix): a worker
//           thread, a fresh DuckDB database, the CSV read and every aggregate. "cold" starts a
//           new thread (start-up included); "warm" reuses a TaskRunner's thread.
//   peer:   the same aggregates by a plain loop in this thread: read the file, split lines,
//           parseFloat, one pass of Welford updates, min/max, bins and co-moments.
// The results are checked against each other before any time is printed.
// Usage: npm run build && npm run bench -- compute [--rows N] [--reps N] [--sources]
//   (the worker runs from dist/ when it is built, as `npm start` would; --sources runs it
//   from the TypeScript sources under tsx, whose loader makes each new thread slower to start)
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { firstRound, mergeRound, type JobResult } from '../src/compute/coordinator.js';
import type { GroupedResult } from '../src/compute/operations/column-groups.js';
import type { CorrelationResult } from '../src/compute/operations/correlation.js';
import type { HistogramResult } from '../src/compute/operations/histogram.js';
import { parsePlan } from '../src/compute/plan.js';
import type * as RunTaskModule from '../src/compute/run-task.js';
import { loadAverage } from './_lib/proc-stats.js';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, reps: { type: 'string', default: '3' }, sources: { type: 'boolean', default: false } } });
const ROWS = Number(values.rows);
const REPS = Number(values.reps);
const dist = new URL('../dist/compute/run-task.js', import.meta.url);
const fromDist = !values.sources && existsSync(dist);
const { TaskRunner, runTask } = (await import(fromDist ? dist.href : '../src/compute/run-task.js')) as typeof RunTaskModule;

const GROUPS = 8;
const EDGES = [-4, -3, -2, -1, -0.5, 0, 0.5, 1, 2, 3, 4];

function makeCsv(path: string): void {
  let a = 12345;
  const rand = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const lines = ['g,x,y,z'];
  for (let i = 0; i < ROWS; i++) {
    const x = (rand() + rand() + rand() - 1.5) * 2;
    const y = 0.5 * x + rand();
    lines.push(`g${Math.floor(rand() * GROUPS)},${x.toFixed(6)},${y.toFixed(6)},${(rand() * 100).toFixed(3)}`);
  }
  writeFileSync(path, lines.join('\n') + '\n');
}

const plan = parsePlan({
  version: 1,
  datasource: 'bench',
  kind: 'statistics',
  operations: [
    { op: 'count', groupBy: ['g'] },
    { op: 'sum', columns: ['x', 'y'], groupBy: ['g'] },
    { op: 'mean', columns: ['x', 'y'], groupBy: ['g'] },
    { op: 'variance', columns: ['x', 'y'], groupBy: ['g'] },
    { op: 'std', columns: ['x', 'y'], groupBy: ['g'] },
    { op: 'min', columns: ['x', 'y'], groupBy: ['g'] },
    { op: 'max', columns: ['x', 'y'], groupBy: ['g'] },
    { op: 'histogram', column: 'x', edges: EDGES },
    { op: 'correlation', columns: ['x', 'y', 'z'] },
  ],
});

interface Acc {
  rows: number;
  n: number[];
  mean: number[];
  m2: number[];
  sum: number[];
  min: number[];
  max: number[];
}

/** The peer: the same aggregates by a plain loop over the parsed file. Returns the time of the loop alone too. */
function plainLoop(path: string): { totalMs: number; loopMs: number; groups: Map<string, Acc>; hist: number[]; corr: number[][] } {
  const t0 = performance.now();
  const lines = readFileSync(path, 'utf8').split('\n');
  const g: string[] = [];
  const cols: Float64Array[] = [new Float64Array(lines.length), new Float64Array(lines.length), new Float64Array(lines.length)];
  let rows = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') continue;
    const f = line.split(',');
    g.push(f[0] as string);
    cols[0]![rows] = parseFloat(f[1] as string);
    cols[1]![rows] = parseFloat(f[2] as string);
    cols[2]![rows] = parseFloat(f[3] as string);
    rows++;
  }
  const t1 = performance.now();
  const groups = new Map<string, Acc>();
  const hist = new Array<number>(EDGES.length - 1).fill(0);
  const means = [0, 0, 0];
  const co = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  const d = [0, 0, 0];
  for (let i = 0; i < rows; i++) {
    const key = g[i] as string;
    let acc = groups.get(key);
    if (!acc) groups.set(key, (acc = { rows: 0, n: [0, 0], mean: [0, 0], m2: [0, 0], sum: [0, 0], min: [Infinity, Infinity], max: [-Infinity, -Infinity] }));
    acc.rows++;
    for (let c = 0; c < 2; c++) {
      const x = cols[c]![i] as number;
      const n = ++acc.n[c]!;
      const delta = x - acc.mean[c]!;
      acc.mean[c]! += delta / n;
      acc.m2[c]! += delta * (x - acc.mean[c]!);
      acc.sum[c]! += x;
      if (x < acc.min[c]!) acc.min[c] = x;
      if (x > acc.max[c]!) acc.max[c] = x;
    }
    const x = cols[0]![i] as number;
    if (x >= EDGES[0]! && x <= EDGES[EDGES.length - 1]!) {
      let b = 0;
      while (b < EDGES.length - 2 && x >= EDGES[b + 1]!) b++;
      hist[b]!++;
    }
    const n = i + 1;
    for (let c = 0; c < 3; c++) d[c] = (cols[c]![i] as number) - means[c]!;
    for (let c = 0; c < 3; c++) means[c]! += d[c]! / n;
    for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) co[a]![b]! += d[a]! * ((cols[b]![i] as number) - means[b]!);
  }
  const corr = co.map((r, a) => r.map((c, b) => c / Math.sqrt(co[a]![a]! * co[b]![b]!)));
  const t2 = performance.now();
  return { totalMs: t2 - t0, loopMs: t2 - t1, groups, hist, corr };
}

function resultOf(output: unknown): Extract<JobResult, { kind: 'statistics' }> {
  const step = mergeRound(firstRound(plan), [{ clientId: 'bench', output }], { k: 10 });
  if (!('result' in step) || step.result.kind !== 'statistics') throw new Error('one round expected');
  return step.result;
}

function check(job: Extract<JobResult, { kind: 'statistics' }>, peer: ReturnType<typeof plainLoop>): void {
  const close = (a: number, b: number, what: string): void => {
    if (!(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)))) throw new Error(`${what}: mycel ${a}, plain loop ${b}`);
  };
  const mean = job.results[2]!.result as GroupedResult<number>;
  const variance = job.results[3]!.result as GroupedResult<number>;
  const min = job.results[5]!.result as GroupedResult<number>;
  for (const [i, group] of mean.groups.entries()) {
    const acc = peer.groups.get(group.key[0] as string)!;
    close(group.values[0]!, acc.mean[0]!, `mean ${group.key}`);
    close(variance.groups[i]!.values[1]!, acc.m2[1]! / (acc.n[1]! - 1), `variance ${group.key}`);
    close(min.groups[i]!.values[0]!, acc.min[0]!, `min ${group.key}`);
  }
  const hist = job.results[7]!.result as HistogramResult;
  if (JSON.stringify(hist.groups[0]!.counts) !== JSON.stringify(peer.hist)) throw new Error('histograms differ');
  const corr = job.results[8]!.result as CorrelationResult;
  close(corr.groups[0]!.matrix[0]![1]!, peer.corr[0]![1]!, 'corr');
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mycel-bench-compute-'));
  try {
    const path = join(dir, 'bench.csv');
    makeCsv(path);
    const source = { name: 'bench', kind: 'file' as const, type: 'csv' as const, path, tokens: [] };
    console.log(
      `compute: node ${process.version}, ${availableParallelism()} cores, load ${loadAverage()}, ${ROWS} rows, ${(statSync(path).size / 1e6).toFixed(1)} MB CSV, ` +
        `worker from ${fromDist ? 'dist/' : 'the sources (tsx)'}, ${REPS} reps (median)`,
    );
    const cold: number[] = [];
    const warm: number[] = [];
    const peerTotal: number[] = [];
    const peerLoop: number[] = [];
    const runner = new TaskRunner();
    await runner.run(firstRound(parsePlan({ version: 1, datasource: 'bench', kind: 'statistics', operations: [{ op: 'count' }] })).input, source, { timeoutMs: 600_000 });
    for (let rep = 0; rep < REPS; rep++) {
      let t = performance.now();
      const out = await runTask(firstRound(plan).input, source, { timeoutMs: 600_000 });
      cold.push(performance.now() - t);
      t = performance.now();
      const outWarm = await runner.run(firstRound(plan).input, source, { timeoutMs: 600_000 });
      warm.push(performance.now() - t);
      const peer = plainLoop(path);
      peerTotal.push(peer.totalMs);
      peerLoop.push(peer.loopMs);
      check(resultOf(out), peer);
      check(resultOf(outWarm), peer);
    }
    const warmReads = { ...runner.reads };
    await runner.close();
    const rows: Array<[string, number, number]> = [
      ['statistics, cold thread vs read+parse+loop', median(cold), median(peerTotal)],
      ['statistics, warm thread vs read+parse+loop', median(warm), median(peerTotal)],
      ['statistics, warm thread vs the loop alone (file parsed beforehand)', median(warm), median(peerLoop)],
    ];
    console.log(`${'name'.padEnd(68)} ${'mycel ms'.padStart(9)} ${'peer ms'.padStart(9)} ${'ratio'.padStart(6)}`);
    for (const [name, mycel, peer] of rows) console.log(`${name.padEnd(68)} ${mycel.toFixed(0).padStart(9)} ${peer.toFixed(0).padStart(9)} ${(peer / mycel).toFixed(2).padStart(6)}`);
    console.log('ratio = peer time / mycel time (above 1: mycel is faster); results checked equal (1e-9) before timing was printed');
    console.log(`warm thread reads: ${warmReads.typed} with the column types it kept, ${warmReads.sniffed} sniffed (the warm-up); every read parses the whole file`);
    console.log(`all runs ms: cold ${cold.map((x) => x.toFixed(0)).join(' ')}; warm ${warm.map((x) => x.toFixed(0)).join(' ')}; peer ${peerTotal.map((x) => x.toFixed(0)).join(' ')}; loop ${peerLoop.map((x) => x.toFixed(0)).join(' ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
