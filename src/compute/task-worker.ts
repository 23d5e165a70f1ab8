/**
 * The worker thread of a `TaskRunner` (`run-task.ts`). For each `{ id, input, source }` it
 * receives, it checks the task input, opens the datasource, runs the task and posts
 * `{ id, reply }`: `{ ok: true, output, read }`, or `{ ok: false, error }` with a MycelError's
 * code, message and details (anything else becomes TASK_FAILED, without internals). One task
 * at a time; the thread lives until its runner terminates it. It is started from this file's
 * .ts (under tsx) or .js (compiled, dist/).
 *
 * What the thread keeps between tasks, each entry tied to the file's identity, size and
 * modification time (a file changed in any of them is read afresh):
 * - per CSV/TSV file, the column types DuckDB sniffed: the next open reads the file with them
 *   and skips the sniffing (`typedColumns`); a typed read that fails is retried sniffed;
 * - the training data of the last FedAvg task (features, target, model): the rounds of a job
 *   read the same rows, so rounds after the first run on the rows in memory, with no DuckDB.
 *   It is dropped when another plan or file is trained on, or after IDLE_DROP_MS without a task.
 * `read` in the reply says how the task read its data: 'kept' (training data kept), 'typed'
 * (types kept) or 'sniffed'.
 */
import { stat } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import { MycelError, isMycelError } from '../errors.js';
import { openDatasource, typedColumns, type ColumnInfo, type DatasourceSpec } from './datasource.js';
import { executeFedAvg, executeTask, readTrainingData } from './execute-task.js';
import type { TrainingData } from './fedavg.js';
import { parseTaskInput, type TaskInput, type TaskOutput } from './task.js';

export interface TaskRequest {
  id: number;
  input: unknown;
  source: DatasourceSpec;
  threads?: number;
}

export type TaskRead = 'kept' | 'typed' | 'sniffed';

export type TaskWorkerReply = { ok: true; output: unknown; read: TaskRead } | { ok: false; error: { code: string; message: string; details?: Record<string, unknown> } };

/** How long kept training data outlives the last task (a job's rounds come seconds apart at most). */
const IDLE_DROP_MS = 120_000;
const MAX_KEPT_SCHEMAS = 32;

const schemas = new Map<string, ColumnInfo[]>();
let training: { key: string; data: TrainingData } | undefined;
let dropTimer: NodeJS.Timeout | undefined;

/** The file's identity, size and modification time (ns), or undefined when it cannot be read (the open then says why). */
async function fileStamp(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return undefined;
  }
}

async function runOn(input: TaskInput, request: TaskRequest, stamp: string | undefined): Promise<{ output: TaskOutput; read: TaskRead }> {
  const spec = request.source;
  const fileKey = stamp === undefined ? undefined : JSON.stringify([spec.type, spec.path, stamp]);
  const trainingKey = fileKey === undefined || input.kind !== 'fedavg' ? undefined : JSON.stringify([fileKey, input.plan.features, input.plan.target, input.plan.model]);
  if (input.kind === 'fedavg' && trainingKey !== undefined && training?.key === trainingKey) return { output: executeFedAvg(input, training.data), read: 'kept' };
  const known = fileKey === undefined ? undefined : schemas.get(fileKey);
  const open = async (columnTypes: readonly ColumnInfo[] | undefined): Promise<{ output: TaskOutput; read: TaskRead }> => {
    const source = await openDatasource(spec, { ...(request.threads === undefined ? {} : { threads: request.threads }), ...(columnTypes ? { columnTypes } : {}) });
    try {
      if (fileKey !== undefined && !columnTypes) {
        const types = typedColumns(spec, source.columns);
        schemas.delete(fileKey);
        if (types) schemas.set(fileKey, types);
        if (schemas.size > MAX_KEPT_SCHEMAS) schemas.delete(schemas.keys().next().value as string);
      }
      const read: TaskRead = columnTypes ? 'typed' : 'sniffed';
      if (input.kind !== 'fedavg') return { output: await executeTask(input, source), read };
      const data = await readTrainingData(input, source);
      if (trainingKey !== undefined) training = { key: trainingKey, data };
      return { output: executeFedAvg(input, data), read };
    } finally {
      source.close();
    }
  };
  if (!known) return open(undefined);
  try {
    return await open(known);
  } catch (err) {
    // The plan's own refusals do not depend on how the file was read; a read that failed with
    // the kept types is tried again sniffed, which decides (its error is the one reported).
    if (isMycelError(err) && err.code !== 'DATASOURCE_UNREADABLE') throw err;
    if (fileKey !== undefined) schemas.delete(fileKey);
    return open(undefined);
  }
}

async function run(request: TaskRequest): Promise<TaskWorkerReply> {
  try {
    const input = parseTaskInput(request.input);
    if (input.plan.datasource !== request.source.name) {
      throw new MycelError('PLAN_INVALID', { path: 'datasource' }, `the plan names datasource "${input.plan.datasource}", the task was given "${request.source.name}"`);
    }
    const { output, read } = await runOn(input, request, await fileStamp(request.source.path));
    return { ok: true, output, read };
  } catch (err) {
    const error = isMycelError(err) ? err : new MycelError('TASK_FAILED');
    return { ok: false, error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) } };
  }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (request: TaskRequest) => {
    clearTimeout(dropTimer);
    void run(request).then((reply) => {
      port.postMessage({ id: request.id, reply });
      dropTimer = setTimeout(() => {
        training = undefined;
      }, IDLE_DROP_MS);
      dropTimer.unref();
    });
  });
}
