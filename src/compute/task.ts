/**
 * What travels between the node and a client for one round of a job:
 *
 *   TaskInput  (node → client): the plan, the round, and what this round asks:
 *     statistics: the operations still running (their index in `plan.operations`) with the
 *                 request of their round (absent in round 1);
 *     fedavg:     the global weights, to train from (`train`) or to score (`evaluate`).
 *   TaskOutput (client → node): the client's row count and its partials / weights / loss;
 *     never a row.
 *
 * Both are plain JSON. `parseTaskInput` is the client's check of what it was sent (the plan
 * is parsed again with `parsePlan`); `taskOutputSchema` the node's first check of what came
 * back (the coordinator then checks each partial against its operation's schema).
 */
import { z } from 'zod';
import { MycelError } from '../errors.js';
import { finite } from './operations/operation.js';
import { parsePlan, type FedAvgPlan, type StatisticsPlan } from './plan.js';

export type TaskInput =
  | { kind: 'statistics'; plan: StatisticsPlan; round: number; requests: Array<{ index: number; request?: unknown }> }
  | { kind: 'fedavg'; plan: FedAvgPlan; round: number; phase: 'train' | 'evaluate'; weights: number[] };

export type TaskOutput =
  | { kind: 'statistics'; round: number; rows: number; partials: Array<{ index: number; partial: unknown }> }
  | { kind: 'fedavg'; round: number; phase: 'train' | 'evaluate'; rows: number; loss: number; weights?: number[] };

const inputSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('statistics'),
    plan: z.unknown(),
    round: z.number().int().min(1).max(100),
    requests: z.array(z.strictObject({ index: z.number().int().min(0).max(31), request: z.unknown().optional() })).min(1).max(32),
  }),
  z.strictObject({
    kind: z.literal('fedavg'),
    plan: z.unknown(),
    round: z.number().int().min(1).max(1001),
    phase: z.enum(['train', 'evaluate']),
    weights: z.array(finite).max(257),
  }),
]);

/** A task input as a client receives it, checked (PLAN_INVALID / OPERATION_UNKNOWN on a bad plan, PLAN_INVALID on a bad envelope). */
export function parseTaskInput(input: unknown): TaskInput {
  const parsed = inputSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: ['task', ...i.path.map(String)].join('.'), message: i.message }));
    const first = issues[0] ?? { path: 'task', message: 'invalid' };
    throw new MycelError('PLAN_INVALID', { path: first.path, issues }, `${first.path}: ${first.message}`);
  }
  const plan = parsePlan(parsed.data.plan);
  if (parsed.data.kind === 'statistics') {
    if (plan.kind !== 'statistics') throw new MycelError('PLAN_INVALID', { path: 'task.kind' }, 'task.kind: a statistics task needs a statistics plan');
    for (const r of parsed.data.requests) {
      if (r.index >= plan.operations.length) throw new MycelError('PLAN_INVALID', { path: 'task.requests' }, 'task.requests: an index past the plan\'s operations');
    }
    return { kind: 'statistics', plan, round: parsed.data.round, requests: parsed.data.requests };
  }
  if (plan.kind !== 'fedavg') throw new MycelError('PLAN_INVALID', { path: 'task.kind' }, 'task.kind: a fedavg task needs a fedavg plan');
  const width = plan.features.length + (plan.intercept === false ? 0 : 1);
  if (parsed.data.weights.length !== width) throw new MycelError('PLAN_INVALID', { path: 'task.weights' }, `task.weights: ${width} weights expected`);
  return { kind: 'fedavg', plan, round: parsed.data.round, phase: parsed.data.phase, weights: parsed.data.weights };
}

/** The envelope of a client's output (the partials inside are checked by their operations). */
export const taskOutputSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('statistics'),
    round: z.number().int().min(1),
    rows: z.number().int().nonnegative(),
    partials: z.array(z.strictObject({ index: z.number().int().min(0), partial: z.unknown() })).max(32),
  }),
  z.strictObject({
    kind: z.literal('fedavg'),
    round: z.number().int().min(1),
    phase: z.enum(['train', 'evaluate']),
    rows: z.number().int().nonnegative(),
    loss: finite,
    weights: z.array(finite).max(257).optional(),
  }),
]);
