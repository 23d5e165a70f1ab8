/**
 * The node's side of a job, pure (no I/O, no clock): which task every client gets in each
 * round, and how the clients' outputs of a round merge into the next round or the result.
 *
 *   let state = firstRound(plan);                        // state.input goes to every client
 *   for (;;) {
 *     const outputs = …;                                 // [{ clientId, output }] of state.round
 *     const step = mergeRound(state, outputs, { k });
 *     if ('result' in step) return step.result;          // the JobResult
 *     state = step.next;                                 // state.input goes to every client again
 *   }
 *
 * `RoundState` is plain JSON (store it with the job between rounds); `state.input` is what
 * clients see, `state.memo` stays on the node (merged partials kept for the next round).
 * Statistics take one round, or two when the plan has quantiles; FedAvg takes `rounds`
 * training rounds and one evaluation round that scores the final model on every client.
 * Every output is checked (TASK_OUTPUT_INVALID names the client and the path) before any is
 * merged. Small cells are suppressed with `k` (default 10): see each operation.
 */
import { z } from 'zod';
import { MycelError } from '../errors.js';
import { averageUpdates, initialWeights, pooledLoss, weightCount } from './fedavg.js';
import type { OperationParams } from './operations/operation.js';
import { findOperation } from './operations/registry.js';
import type { FedAvgPlan, Plan, StatisticsPlan } from './plan.js';
import { taskOutputSchema, type TaskInput, type TaskOutput } from './task.js';

export const DEFAULT_K = 10;

/** Per operation of a statistics plan: finished with its result, or waiting on its next round. */
type OperationState = { done: true; result: unknown } | { done: false; prior?: { request: unknown; memo: unknown } };

export type RoundState =
  | { kind: 'statistics'; round: number; input: TaskInput; memo: { operations: OperationState[] } }
  | { kind: 'fedavg'; round: number; input: TaskInput; memo: { lossHistory: number[] } };

export interface ClientOutput {
  clientId: string;
  output: unknown;
}

export type JobResult =
  | { kind: 'statistics'; datasource: string; k: number; clients: number; results: Array<{ op: string; result: unknown }> }
  | {
      kind: 'fedavg';
      datasource: string;
      model: FedAvgPlan['model'];
      features: string[];
      target: string;
      k: number;
      clients: number;
      rows: number;
      /** Null when fewer than k rows took part. */
      weights: { coefficients: number[]; intercept: number | null } | null;
      loss: number | null;
      /** The pooled loss of the global model at the start of each training round. */
      lossHistory: number[];
      rounds: number;
      suppressed: boolean;
    };

/** The state of round 1: its input goes to every client. */
export function firstRound(plan: Plan): RoundState {
  if (plan.kind === 'fedavg') {
    return { kind: 'fedavg', round: 1, input: { kind: 'fedavg', plan, round: 1, phase: 'train', weights: initialWeights(plan) }, memo: { lossHistory: [] } };
  }
  return {
    kind: 'statistics',
    round: 1,
    input: { kind: 'statistics', plan, round: 1, requests: plan.operations.map((_, index) => ({ index })) },
    memo: { operations: plan.operations.map(() => ({ done: false })) },
  };
}

function badOutput(clientId: string, path: string, message: string): MycelError {
  return new MycelError('TASK_OUTPUT_INVALID', { clientId: clientId.slice(0, 200), path }, `client ${clientId.slice(0, 200)}: ${path}: ${message}`);
}

function checkEnvelopes(state: RoundState, outputs: readonly ClientOutput[]): Array<{ clientId: string; output: TaskOutput }> {
  if (outputs.length === 0) throw new MycelError('TASK_OUTPUT_INVALID', { path: 'outputs' }, 'a round needs the output of at least one client');
  return outputs.map(({ clientId, output }) => {
    const parsed = taskOutputSchema.safeParse(output);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw badOutput(clientId, issue?.path.map(String).join('.') || 'output', issue?.message ?? 'invalid');
    }
    const out = parsed.data as TaskOutput;
    if (out.kind !== state.kind) throw badOutput(clientId, 'kind', `expected ${state.kind}`);
    if (out.round !== state.round) throw badOutput(clientId, 'round', `expected round ${state.round}, got ${out.round}`);
    return { clientId, output: out };
  });
}

function mergeStatistics(state: Extract<RoundState, { kind: 'statistics' }>, outputs: Array<{ clientId: string; output: TaskOutput }>, k: number): { next: RoundState } | { result: JobResult } {
  const plan = (state.input as Extract<TaskInput, { kind: 'statistics' }>).plan;
  const asked = (state.input as Extract<TaskInput, { kind: 'statistics' }>).requests.map((r) => r.index);
  // Check every partial of every client before merging anything.
  const partialsByIndex = new Map<number, unknown[]>(asked.map((i) => [i, []]));
  for (const { clientId, output } of outputs) {
    const out = output as Extract<TaskOutput, { kind: 'statistics' }>;
    const given = out.partials.map((p) => p.index);
    if (given.length !== asked.length || !asked.every((i) => given.includes(i))) {
      throw badOutput(clientId, 'partials', `expected partials for operations ${asked.join(', ')}`);
    }
    for (const { index, partial } of out.partials) {
      const params = plan.operations[index] as OperationParams;
      const checked = findOperation(params.op)!.partial(params).safeParse(partial);
      if (!checked.success) {
        const issue = checked.error.issues[0];
        throw badOutput(clientId, `partials.${index}.${issue?.path.map(String).join('.') ?? ''}`, issue?.message ?? 'invalid');
      }
      partialsByIndex.get(index)!.push(checked.data);
    }
  }
  const operations = state.memo.operations.map((s) => ({ ...s })) as OperationState[];
  const requests: Array<{ index: number; request: unknown }> = [];
  for (const index of asked) {
    const params = plan.operations[index] as OperationParams;
    const current = operations[index] as Extract<OperationState, { done: false }>;
    const outcome = findOperation(params.op)!.step(params, partialsByIndex.get(index)!, current.prior, { k });
    if ('result' in outcome) operations[index] = { done: true, result: outcome.result };
    else {
      operations[index] = { done: false, prior: { request: outcome.request, memo: outcome.memo } };
      requests.push({ index, request: outcome.request });
    }
  }
  if (requests.length > 0) {
    const round = state.round + 1;
    return { next: { kind: 'statistics', round, input: { kind: 'statistics', plan, round, requests }, memo: { operations } } };
  }
  return {
    result: {
      kind: 'statistics',
      datasource: plan.datasource,
      k,
      clients: outputs.length,
      results: operations.map((s, i) => ({ op: (plan.operations[i] as OperationParams).op, result: (s as { result: unknown }).result })),
    },
  };
}

function mergeFedAvg(state: Extract<RoundState, { kind: 'fedavg' }>, outputs: Array<{ clientId: string; output: TaskOutput }>, k: number): { next: RoundState } | { result: JobResult } {
  const input = state.input as Extract<TaskInput, { kind: 'fedavg' }>;
  const plan = input.plan;
  const width = weightCount(plan);
  const outs = outputs.map(({ clientId, output }) => {
    const out = output as Extract<TaskOutput, { kind: 'fedavg' }>;
    if (out.phase !== input.phase) throw badOutput(clientId, 'phase', `expected ${input.phase}`);
    if (input.phase === 'train' && out.weights?.length !== width) throw badOutput(clientId, 'weights', `expected ${width} weights`);
    return out;
  });
  const rows = outs.reduce((s, o) => s + o.rows, 0);
  const loss = pooledLoss(outs);
  const base = { kind: 'fedavg' as const, datasource: plan.datasource, model: plan.model, features: [...plan.features], target: plan.target, k, clients: outs.length, rows };
  if (rows < k) {
    return { result: { ...base, weights: null, loss: null, lossHistory: [], rounds: state.round - (input.phase === 'evaluate' ? 1 : 0), suppressed: true } };
  }
  if (input.phase === 'evaluate') {
    const w = input.weights;
    const intercept = plan.intercept === false ? null : (w[plan.features.length] as number);
    return {
      result: { ...base, weights: { coefficients: w.slice(0, plan.features.length), intercept }, loss, lossHistory: state.memo.lossHistory, rounds: state.round - 1, suppressed: false },
    };
  }
  const weights = averageUpdates(outs.map((o) => ({ rows: o.rows, weights: o.weights as number[] })));
  if (!weights.every(Number.isFinite)) throw new MycelError('MODEL_DIVERGED', { round: state.round });
  const round = state.round + 1;
  const phase = state.round < plan.rounds ? 'train' : 'evaluate';
  return { next: { kind: 'fedavg', round, input: { kind: 'fedavg', plan, round, phase, weights }, memo: { lossHistory: [...state.memo.lossHistory, loss] } } };
}

const kSchema = z.number().int().min(1).max(1_000_000);

/** Merges the outputs of one round: the next round's state, or the job's result. Throws TASK_OUTPUT_INVALID or MODEL_DIVERGED. */
export function mergeRound(state: RoundState, outputs: readonly ClientOutput[], options: { k?: number } = {}): { next: RoundState } | { result: JobResult } {
  const k = kSchema.parse(options.k ?? DEFAULT_K);
  const checked = checkEnvelopes(state, outputs);
  return state.kind === 'statistics' ? mergeStatistics(state, checked, k) : mergeFedAvg(state, checked, k);
}

export type { StatisticsPlan };
