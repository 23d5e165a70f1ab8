/**
 * A client's step of one round, in the thread it is called on: checks the plan's columns
 * against the datasource (COLUMN_NOT_FOUND / COLUMN_NOT_NUMERIC before any aggregate), reads
 * the columns it needs, and runs the round's operations (per-column operations on the same
 * groups in one query) or FedAvg step. `runTask` (`run-task.ts`) calls it in a worker thread;
 * nothing else should call it on the event loop.
 *
 * The file is parsed once per task: a statistics plan that needs several queries reads the
 * columns it uses into a table first; a plan of one query (per-column operations on one
 * `groupBy`) and a FedAvg round, which read the data once, query the file directly.
 * `executeFedAvg` runs a FedAvg round on training data already read (`readTrainingData`), so a
 * runner may keep the data between the rounds of a job (see task-worker.ts).
 */
import { MycelError } from '../errors.js';
import { checkColumns, type OpenDatasource } from './datasource.js';
import { loadTrainingData, modelLoss, trainLocal, type TrainingData } from './fedavg.js';
import { runColumnScans } from './operations/column-groups.js';
import type { ColumnScan, LocalSource, OperationParams } from './operations/operation.js';
import { findOperation } from './operations/registry.js';
import { planColumns } from './plan.js';
import type { TaskInput, TaskOutput } from './task.js';

type FedAvgInput = Extract<TaskInput, { kind: 'fedavg' }>;

export async function executeTask(input: TaskInput, source: OpenDatasource): Promise<TaskOutput> {
  if (input.kind === 'fedavg') return executeFedAvg(input, await readTrainingData(input, source));
  const use = planColumns(input.plan);
  checkColumns(source, use);
  // Per-column operations on the same groups share one query; the others run on their own.
  const scans: Array<{ index: number; scan: ColumnScan<unknown> }> = [];
  const others: Array<{ index: number; params: OperationParams; request: unknown }> = [];
  for (const { index, request } of input.requests) {
    const params = input.plan.operations[index] as OperationParams;
    const scan = findOperation(params.op)!.scan?.(params, request);
    if (scan) scans.push({ index, scan });
    else others.push({ index, params, request });
  }
  const groupings = new Set(scans.map((s) => JSON.stringify(s.scan.groupBy ?? [])));
  if (others.length === 0 && groupings.size === 1) {
    // One query: straight from the file, the row count from its groups' counts.
    const scanned = await runColumnScans(source, scans.map((s) => s.scan));
    const rows = (scanned[0]?.groups ?? []).reduce((n, g) => n + g.rows, 0);
    return { kind: 'statistics', round: input.round, rows, partials: scans.map((s, i) => ({ index: s.index, partial: scanned[i] })) };
  }
  const data: LocalSource = await source.materialize([...use.numeric, ...use.any]);
  const [count] = await data.query(`SELECT count(*) AS n FROM ${data.view}`);
  const partials: Array<{ index: number; partial: unknown }> = [];
  for (const { index, params, request } of others) partials.push({ index, partial: await findOperation(params.op)!.local(data, params, request) });
  const scanned = await runColumnScans(data, scans.map((s) => s.scan));
  scans.forEach((s, i) => partials.push({ index: s.index, partial: scanned[i] }));
  partials.sort((a, b) => a.index - b.index);
  return { kind: 'statistics', round: input.round, rows: Number(count?.n ?? 0), partials };
}

/** The rows a FedAvg plan trains on, read from the file in one query (columns checked first). */
export async function readTrainingData(input: FedAvgInput, source: OpenDatasource): Promise<TrainingData> {
  checkColumns(source, planColumns(input.plan));
  return loadTrainingData(source, input.plan);
}

/** One FedAvg round on the client's rows: the loss of the global weights, and (training) the locally trained weights. */
export function executeFedAvg(input: FedAvgInput, training: TrainingData): TaskOutput {
  const loss = modelLoss(input.plan, input.weights, training);
  if (input.phase === 'evaluate') return { kind: 'fedavg', round: input.round, phase: 'evaluate', rows: training.rows, loss };
  const weights = trainLocal(input.plan, input.weights, training);
  if (!Number.isFinite(loss) || !weights.every(Number.isFinite)) throw new MycelError('MODEL_DIVERGED', { round: input.round });
  return { kind: 'fedavg', round: input.round, phase: 'train', rows: training.rows, loss, weights };
}
