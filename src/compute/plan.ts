/**
 * The compute plan: what a workbench asks the clients of a project to compute. A plan is
 * data, never code: a versioned, strict JSON document naming operations of the registry
 * (`operations/registry.ts`) and their parameters. `parsePlan` is the one way in; it refuses
 * an unknown field, version or operation and any bad parameter, with its code and the path of
 * the offending field, before anything runs.
 *
 *   { "version": 1, "datasource": "trial", "kind": "statistics",
 *     "operations": [ { "op": "mean", "columns": ["age"], "groupBy": ["site"] }, … ] }
 *
 *   { "version": 1, "datasource": "trial", "kind": "fedavg", "model": "logistic",
 *     "features": ["age", "bmi"], "target": "outcome", "rounds": 20, "localEpochs": 5,
 *     "learningRate": 0.1, "l2": 0.001 }
 *
 * Column names are checked here for shape only; the runner checks them against the
 * datasource's schema (`checkColumns` in `datasource.ts`) before it runs anything, and they
 * reach SQL only quoted (`sql.ts`).
 */
import { z } from 'zod';
import { MycelError } from '../errors.js';
import { columnName, type OperationParams } from './operations/operation.js';
import { findOperation } from './operations/registry.js';

export const PLAN_VERSION = 1;

/** A datasource's name as a plan gives it (the client maps it to its own file). */
export const datasourceName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { message: 'a datasource name is letters, digits, ".", "_" and "-"' });

/**
 * Seconds each round waits for its clients (Flower's round timeout); absent: the node's
 * compute.roundTimeoutSeconds, which the node writes into the plan it stores.
 */
const roundTimeoutSeconds = z.number().int().min(1).max(30 * 86_400).optional();

export interface StatisticsPlan {
  version: 1;
  datasource: string;
  kind: 'statistics';
  operations: OperationParams[];
  roundTimeoutSeconds?: number;
}

const fedavgSchema = z
  .strictObject({
    version: z.literal(PLAN_VERSION),
    datasource: datasourceName,
    kind: z.literal('fedavg'),
    model: z.enum(['linear', 'logistic']),
    features: z
      .array(columnName)
      .min(1)
      .max(256)
      .refine((a) => new Set(a).size === a.length, { message: 'features names a column twice' }),
    target: columnName,
    rounds: z.number().int().min(1).max(1000),
    localEpochs: z.number().int().min(1).max(1000),
    learningRate: z.number().positive().max(100),
    /** L2 penalty (λ/2)·‖w‖², intercept not penalised. */
    l2: z.number().min(0).max(1000).optional(),
    /** Rows per gradient step, in file order; absent: the whole local data (full-batch). */
    batchSize: z.number().int().min(1).max(10_000_000).optional(),
    intercept: z.boolean().optional(),
    roundTimeoutSeconds,
  })
  .refine((p) => !p.features.includes(p.target), { message: 'the target cannot also be a feature', path: ['target'] });

export type FedAvgPlan = z.infer<typeof fedavgSchema>;
export type Plan = StatisticsPlan | FedAvgPlan;

const envelope = z.looseObject({ version: z.unknown(), kind: z.enum(['statistics', 'fedavg']) });
const statisticsSchema = z.strictObject({
  version: z.literal(PLAN_VERSION),
  datasource: datasourceName,
  kind: z.literal('statistics'),
  operations: z.array(z.looseObject({ op: z.string() })).min(1).max(32),
  roundTimeoutSeconds,
});

function invalid(error: z.ZodError, prefix: Array<string | number> = []): MycelError {
  const issues = error.issues.map((i) => ({ path: [...prefix, ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))].join('.'), message: i.message }));
  const first = issues[0] ?? { path: prefix.join('.'), message: 'invalid' };
  return new MycelError('PLAN_INVALID', { path: first.path, issues }, `plan${first.path === '' ? '' : '.' + first.path}: ${first.message}`);
}

/** The plan in `input`, checked; throws PLAN_INVALID or OPERATION_UNKNOWN (with `details.path`). */
export function parsePlan(input: unknown): Plan {
  const head = envelope.safeParse(input);
  if (!head.success) throw invalid(head.error);
  if (head.data.kind === 'fedavg') {
    const plan = fedavgSchema.safeParse(input);
    if (!plan.success) throw invalid(plan.error);
    return plan.data;
  }
  const plan = statisticsSchema.safeParse(input);
  if (!plan.success) throw invalid(plan.error);
  const operations = plan.data.operations.map((entry, i): OperationParams => {
    const operation = findOperation(entry.op);
    if (!operation) {
      throw new MycelError('OPERATION_UNKNOWN', { path: `operations.${i}.op`, op: entry.op.slice(0, 100) }, `plan.operations.${i}.op: no operation "${entry.op.slice(0, 100)}" in the registry`);
    }
    const parsed = operation.params.safeParse(entry);
    if (!parsed.success) throw invalid(parsed.error, ['operations', i]);
    return parsed.data;
  });
  return {
    version: PLAN_VERSION,
    datasource: plan.data.datasource,
    kind: 'statistics',
    operations,
    ...(plan.data.roundTimeoutSeconds === undefined ? {} : { roundTimeoutSeconds: plan.data.roundTimeoutSeconds }),
  };
}

/** The columns a plan reads: `numeric` must hold numbers; `any` may hold anything. */
export function planColumns(plan: Plan): { numeric: string[]; any: string[] } {
  if (plan.kind === 'fedavg') return { numeric: [...plan.features, plan.target], any: [] };
  const numeric = new Set<string>();
  const any = new Set<string>();
  for (const entry of plan.operations) {
    const use = findOperation(entry.op)!.columns(entry);
    use.numeric.forEach((c) => numeric.add(c));
    use.any.forEach((c) => any.add(c));
  }
  return { numeric: [...numeric], any: [...any].filter((c) => !numeric.has(c)) };
}
