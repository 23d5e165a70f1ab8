/**
 * FedAvg for linear (squared loss) and logistic regression: a client's local training, the
 * node's weighted average of client updates, and the loss. Deterministic: the same weights
 * and rows (in file order) give the same update, bit for bit.
 *
 *   weights = [w_1 … w_d, b]  (b the intercept, last; absent when `intercept: false`)
 *   linear:   loss = (1/n) Σ ½ (w·x + b − y)²            + (λ/2) ‖w‖²
 *   logistic: loss = (1/n) Σ log(1 + e^z) − y z, z = w·x + b  + (λ/2) ‖w‖²   (y ∈ {0, 1})
 *
 * One local epoch is one pass over the client's rows in file order, in batches of `batchSize`
 * rows (default: all of them, i.e. one full-batch gradient step per epoch); each batch is one
 * gradient step with `learningRate`. The node averages the clients' weights weighted by their
 * row counts (`averageUpdates`), so the pooled loss is the row-weighted mean of the clients'
 * losses. Rows with a null feature or target are left out.
 */
import { MycelError } from '../errors.js';
import type { FedAvgPlan } from './plan.js';
import { quoteIdent } from './sql.js';
import type { LocalSource } from './operations/operation.js';

/** A client's rows: x row-major (rows × features), y the target. */
export interface TrainingData {
  rows: number;
  features: number;
  x: Float64Array;
  y: Float64Array;
}

type Model = Pick<FedAvgPlan, 'model' | 'l2' | 'intercept'>;
type Training = Pick<FedAvgPlan, 'model' | 'l2' | 'intercept' | 'localEpochs' | 'learningRate' | 'batchSize'>;

/** How many weights a plan's model has. */
export function weightCount(plan: Pick<FedAvgPlan, 'features' | 'intercept'>): number {
  return plan.features.length + (plan.intercept === false ? 0 : 1);
}

/** The starting weights: all zero. */
export function initialWeights(plan: Pick<FedAvgPlan, 'features' | 'intercept'>): number[] {
  return new Array<number>(weightCount(plan)).fill(0);
}

/** Reads the features and target of the rows where none is null, as doubles in file order. */
export async function loadTrainingData(source: LocalSource, plan: Pick<FedAvgPlan, 'features' | 'target' | 'model'>): Promise<TrainingData> {
  const cols = [...plan.features, plan.target];
  const select = cols.map((c) => `CAST(${quoteIdent(c)} AS DOUBLE)`).join(', ');
  const where = cols.map((c) => `${quoteIdent(c)} IS NOT NULL`).join(' AND ');
  const columns = (await source.queryColumns(`SELECT ${select} FROM ${source.view} WHERE ${where}`)) as number[][];
  const d = plan.features.length;
  const rows = columns[0]?.length ?? 0;
  const x = new Float64Array(rows * d);
  for (let j = 0; j < d; j++) {
    const col = columns[j] as number[];
    for (let i = 0; i < rows; i++) x[i * d + j] = col[i] as number;
  }
  const y = Float64Array.from(columns[d] as number[]);
  if (plan.model === 'logistic' && y.some((v) => v !== 0 && v !== 1)) {
    throw new MycelError('COLUMN_NOT_BINARY', { column: plan.target }, `the target "${plan.target}" of a logistic model holds values other than 0 and 1`);
  }
  return { rows, features: d, x, y };
}

function linearPart(weights: readonly number[], data: TrainingData, i: number, intercept: boolean): number {
  const d = data.features;
  let z = intercept ? (weights[d] as number) : 0;
  for (let j = 0; j < d; j++) z += (weights[j] as number) * (data.x[i * d + j] as number);
  return z;
}

/** log(1 + e^z), without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** The mean loss of `weights` on the rows (with the L2 term); 0 rows → the L2 term alone. */
export function modelLoss(plan: Model, weights: readonly number[], data: TrainingData): number {
  const intercept = plan.intercept !== false;
  let total = 0;
  for (let i = 0; i < data.rows; i++) {
    const z = linearPart(weights, data, i, intercept);
    const y = data.y[i] as number;
    total += plan.model === 'linear' ? 0.5 * (z - y) * (z - y) : softplus(z) - y * z;
  }
  let penalty = 0;
  for (let j = 0; j < data.features; j++) penalty += (weights[j] as number) ** 2;
  return (data.rows === 0 ? 0 : total / data.rows) + ((plan.l2 ?? 0) / 2) * penalty;
}

/** Local training from `weights`: `localEpochs` passes of gradient steps. Returns the new weights. */
export function trainLocal(plan: Training, start: readonly number[], data: TrainingData): number[] {
  const w = Float64Array.from(start);
  if (data.rows === 0) return [...w];
  const d = data.features;
  const intercept = plan.intercept !== false;
  const l2 = plan.l2 ?? 0;
  const batch = Math.min(plan.batchSize ?? data.rows, data.rows);
  const grad = new Float64Array(w.length);
  const current = (): number[] => Array.from(w);
  for (let epoch = 0; epoch < plan.localEpochs; epoch++) {
    for (let from = 0; from < data.rows; from += batch) {
      const to = Math.min(data.rows, from + batch);
      grad.fill(0);
      const ws = current();
      for (let i = from; i < to; i++) {
        const z = linearPart(ws, data, i, intercept);
        const residual = (plan.model === 'linear' ? z : sigmoid(z)) - (data.y[i] as number);
        for (let j = 0; j < d; j++) grad[j] = (grad[j] as number) + residual * (data.x[i * d + j] as number);
        if (intercept) grad[d] = (grad[d] as number) + residual;
      }
      const m = to - from;
      for (let j = 0; j < w.length; j++) {
        const penalty = j < d ? l2 * (w[j] as number) : 0;
        w[j] = (w[j] as number) - plan.learningRate * ((grad[j] as number) / m + penalty);
      }
    }
  }
  return current();
}

/** The weights averaged over clients, each weighted by its row count; clients with no rows count for nothing. */
export function averageUpdates(updates: ReadonlyArray<{ rows: number; weights: readonly number[] }>): number[] {
  const total = updates.reduce((s, u) => s + u.rows, 0);
  const width = updates[0]?.weights.length ?? 0;
  const out = new Array<number>(width).fill(0);
  if (total === 0) return out;
  for (const u of updates) for (let j = 0; j < width; j++) out[j] = (out[j] as number) + ((u.weights[j] as number) * u.rows) / total;
  return out;
}

/** The row-weighted mean of the clients' losses: the pooled loss. */
export function pooledLoss(losses: ReadonlyArray<{ rows: number; loss: number }>): number {
  const total = losses.reduce((s, u) => s + u.rows, 0);
  return total === 0 ? 0 : losses.reduce((s, u) => s + u.loss * u.rows, 0) / total;
}
