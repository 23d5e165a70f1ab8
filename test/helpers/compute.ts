// Compute test helpers: a seeded data set split over three clients (plus the pooled file),
// the job loop of the coordinator over runTask, and DuckDB queries on the pooled file as the
// reference the federated results are held to.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { firstRound, mergeRound, type JobResult } from '../../src/compute/coordinator.js';
import type { DatasourceSpec } from '../../src/compute/datasource.js';
import type { Plan } from '../../src/compute/plan.js';
import { TaskRunner } from '../../src/compute/run-task.js';

/** A small seeded PRNG (mulberry32): the same seed, the same data on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normal(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

export interface Row {
  site: string;
  sex: string;
  age: number;
  bmi: number | null;
  x1: number;
  x2: number;
  ylin: number;
  ybin: number;
}

export const HEADER = 'site,sex,age,bmi,x1,x2,ylin,ybin';

/** `rows` seeded rows: site E is rare (a group under k once pooled), bmi has nulls. */
export function makeRows(rows: number, seed: number): Row[] {
  const rand = prng(seed);
  const out: Row[] = [];
  for (let i = 0; i < rows; i++) {
    const u = rand();
    const site = u < 0.002 ? 'E' : u < 0.3 ? 'A' : u < 0.6 ? 'B' : u < 0.85 ? 'C' : 'D';
    const x1 = normal(rand);
    const x2 = normal(rand);
    const z = 1.0 * x1 - 0.8 * x2 + 0.3;
    out.push({
      site,
      sex: rand() < 0.5 ? 'F' : 'M',
      age: Math.round((20 + 60 * rand()) * 100) / 100,
      bmi: rand() < 0.03 ? null : Math.round((25 + 4 * normal(rand)) * 10) / 10,
      x1,
      x2,
      ylin: 0.5 + 1.5 * x1 - 2 * x2 + 0.5 * normal(rand),
      ybin: rand() < 1 / (1 + Math.exp(-z)) ? 1 : 0,
    });
  }
  return out;
}

export function toCsv(rows: readonly Row[], delim = ','): string {
  const lines = rows.map((r) => [r.site, r.sex, r.age, r.bmi ?? '', r.x1, r.x2, r.ylin, r.ybin].join(delim));
  return [HEADER.replaceAll(',', delim), ...lines].join('\n') + '\n';
}

export function spec(name: string, path: string, type: DatasourceSpec['type'] = 'csv'): DatasourceSpec {
  return { name, kind: 'file', type, path, tokens: [] };
}

/** Writes the pooled file and three uneven parts of it (45 %, 35 %, 20 %) into `dir`. */
export function writeSplit(dir: string, rows: readonly Row[], name = 'trial'): { pooled: DatasourceSpec; parts: DatasourceSpec[] } {
  const cut1 = Math.floor(rows.length * 0.45);
  const cut2 = Math.floor(rows.length * 0.8);
  const pieces = [rows.slice(0, cut1), rows.slice(cut1, cut2), rows.slice(cut2)];
  writeFileSync(join(dir, `${name}-pooled.csv`), toCsv(rows));
  const parts = pieces.map((piece, i) => {
    const path = join(dir, `${name}-part${i}.csv`);
    writeFileSync(path, toCsv(piece));
    return spec(name, path);
  });
  return { pooled: spec(name, join(dir, `${name}-pooled.csv`)), parts };
}

/** Runs a job to its result: every round's input to every client through runTask, outputs merged by the coordinator. */
export async function runJob(
  runner: TaskRunner,
  plan: Plan,
  clients: readonly DatasourceSpec[],
  options: { k?: number; timeoutMs?: number } = {},
): Promise<JobResult & { roundsRun: number }> {
  let state = firstRound(plan);
  for (let guard = 0; guard < 2000; guard++) {
    const outputs = [];
    for (const [i, source] of clients.entries()) {
      outputs.push({ clientId: `client-${i}`, output: await runner.run(state.input, source, { timeoutMs: options.timeoutMs ?? 120_000, threads: 1 }) });
    }
    const step = mergeRound(state, outputs, options.k === undefined ? {} : { k: options.k });
    if ('result' in step) return { ...step.result, roundsRun: state.round };
    state = step.next;
  }
  throw new Error('the job did not finish');
}

/** Rows of `sql` over the file at `path` as the view `t` (DuckDB in this process: the reference). */
export async function pooledQuery(path: string, sql: string): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(`CREATE VIEW t AS SELECT * FROM read_csv('${path.replaceAll("'", "''")}', header = true, delim = ',')`);
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Array<Record<string, unknown>>;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** |a − b| ≤ tol · max(1, |b|). */
export function close(a: number, b: number, tol = 1e-9): boolean {
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
}

/** The per-operation results of a statistics job (fails on a FedAvg result). */
export function resultsOf(job: JobResult): Array<{ op: string; result: unknown }> {
  if (job.kind !== 'statistics') throw new Error(`expected a statistics result, got ${job.kind}`);
  return job.results;
}
