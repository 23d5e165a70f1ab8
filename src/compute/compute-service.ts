/**
 * The node's compute service: it drives the domain's queue (src/domain/compute-queue.ts) with
 * the coordinator's round logic (coordinator.ts).
 *
 *   submit(token, plan)                              parsePlan → firstRound → queue.submitJob
 *   completeTask / failTask(clientId, taskId, …)     the queue's, then merge when the round is complete
 *   resume()                                         merges every round left waiting (start, after a crash)
 *
 * Round state: a `RoundState` is pure JSON whose `memo` must stay on the node. The domain stores
 * the job's plan and every task's output, so the state of round r is recomputed by replaying
 * `mergeRound` over the stored outputs of rounds 1..r−1 (deterministic: the coordinator is pure);
 * the state is kept in memory between rounds and replayed only after a restart.
 *
 * Failed tasks: a round merges the outputs of the clients that finished it; a client whose task
 * failed takes no part in later rounds. The job ends `done` when no task failed, `partial` when
 * some client failed but others finished every round, `failed` when no client finished a round
 * or the merge itself failed (TASK_OUTPUT_INVALID, MODEL_DIVERGED). The job's `error` then lists
 * each failed task's client and error (the domain adds them) and, for a failed merge, its reason.
 */
import { MycelError } from '../errors.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { MAX_RESULT_BLOB_BYTES } from '../domain/compute-limits.js';
import type { Logger } from '../log.js';
import type { ComputeJob, ComputeTask } from '../model/compute.js';
import type { ComputeQueue, LeasedTask, TaskOutcome } from '../domain/compute-queue.js';
import type { ComputeProjects } from '../domain/compute-projects.js';
import type { SignedRequest } from '../domain/compute-clients.js';
import type { ChangeRef } from '../domain/forwarded-writes.js';
import type { StorageReader } from '../storage/storage.js';
import { firstRound, mergeRound, DEFAULT_K, type JobResult, type RoundState } from './coordinator.js';
import { parsePlan } from './plan.js';
import type { ComputeMetrics } from './metrics.js';

export interface ComputeServiceOptions {
  queue: ComputeQueue;
  projects: ComputeProjects;
  /** Reads jobs, tasks and projects (writes go through the queue). */
  storage: Pick<StorageReader, 'getComputeJob' | 'listComputeTasks' | 'getComputeProject'>;
  log: Logger;
  /** Lease length of the tasks of new jobs (default: the queue's, 60 s). */
  leaseSeconds?: number;
  maxAttempts?: number;
  /** Seconds a round waits for its clients when the plan says nothing (compute.roundTimeoutSeconds); absent: no deadline. */
  roundTimeoutSeconds?: number;
  /**
   * Stores a finished job's result as a blob (canonical JSON bytes, at most
   * MAX_RESULT_BLOB_BYTES) and answers its sha256; absent: results are kept in the database
   * (at most 1 MiB). Must be idempotent: a merge repeated after a crash stores the same bytes.
   */
  storeResult?: (bytes: Buffer) => Promise<string>;
  /** Called with the job after every round it advances or finishes (live progress). */
  onJobAdvanced?: (job: ComputeJob) => void;
  metrics?: ComputeMetrics;
}

/** A task error as stored: code, message and details of a MycelError; anything else as TASK_FAILED. */
export function taskErrorValue(err: unknown): { code: string; message: string; details?: unknown } {
  if (err instanceof MycelError) return { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) };
  return { code: 'TASK_FAILED', message: 'the task failed' };
}

export class ComputeService {
  private readonly states = new Map<string, RoundState>();
  /** One merge at a time per job. */
  private readonly merging = new Map<string, Promise<unknown>>();
  private closed = false;

  constructor(private readonly options: ComputeServiceOptions) {}

  /** Checks the plan (PLAN_INVALID / OPERATION_UNKNOWN before anything is stored) and queues its first round. */
  async submit(token: string, planInput: unknown): Promise<ComputeJob> {
    const parsed = parsePlan(planInput);
    // The stored plan names its round deadline: a later change of the node's default does not move it.
    const fallback = this.options.roundTimeoutSeconds;
    const plan = parsed.roundTimeoutSeconds === undefined && fallback !== undefined ? { ...parsed, roundTimeoutSeconds: fallback } : parsed;
    const state = firstRound(plan);
    const { job } = await this.options.queue.submitJob(token, {
      plan,
      datasource: plan.datasource,
      firstRoundInput: state.input,
      ...(this.options.leaseSeconds === undefined ? {} : { leaseSeconds: this.options.leaseSeconds }),
      ...(this.options.maxAttempts === undefined ? {} : { maxAttempts: this.options.maxAttempts }),
    });
    this.states.set(job.id, state);
    return job;
  }

  // A client's operations. `proof` is its signed request as it arrived: on a task of another
  // node's job the queue sends it to the job's origin, which checks it (relayed-task-op.ts).

  /** A client's next task (long poll up to `timeoutMs`), or null. */
  async pollTask(clientId: string, timeoutMs: number, signal?: AbortSignal, proof?: SignedRequest): Promise<LeasedTask | null> {
    const metrics = this.options.metrics;
    metrics?.pollsWaiting.inc();
    try {
      return await this.options.queue.pollTask(clientId, { timeoutMs, ...(signal ? { signal } : {}), ...(proof ? { proof } : {}) });
    } finally {
      metrics?.pollsWaiting.dec();
    }
  }

  /** Leases one given task of the client (a lease relayed by a replica; ComputeQueue.leaseTask). */
  leaseTask(clientId: string, taskId: string, proof?: SignedRequest): Promise<LeasedTask> {
    return this.options.queue.leaseTask(clientId, taskId, proof);
  }

  /** Extends a running task's lease (ComputeQueue.renewLease). */
  renewLease(clientId: string, taskId: string, leaseId: string, proof?: SignedRequest): Promise<{ leaseExpiresAt: number; change: ChangeRef | null }> {
    return this.options.queue.renewLease(clientId, taskId, leaseId, proof);
  }

  /** Gives back a lease that never reached its client (see ComputeQueue.returnLease); the change that did, or null. */
  async returnLease(clientId: string, taskId: string, leaseId: string, proof?: SignedRequest): Promise<ChangeRef | null> {
    const change = await this.options.queue.returnLeaseTraced(clientId, taskId, leaseId, proof);
    if (change) this.options.metrics?.leasesReturned.inc();
    return change;
  }

  async completeTask(clientId: string, taskId: string, leaseId: string, output: unknown, proof?: SignedRequest): Promise<TaskOutcome> {
    const outcome = await this.options.queue.completeTask(clientId, taskId, leaseId, output, proof);
    if (outcome.roundComplete && outcome.local) await this.advanceAfterReport(outcome);
    return outcome;
  }

  async failTask(clientId: string, taskId: string, leaseId: string, error: unknown, proof?: SignedRequest): Promise<TaskOutcome> {
    const outcome = await this.options.queue.failTask(clientId, taskId, leaseId, error, proof);
    if (outcome.roundComplete && outcome.local) await this.advanceAfterReport(outcome);
    return outcome;
  }

  /**
   * The client's report is stored whatever the merge does: a merge that cannot be written now
   * (the database busy, the node closing) is logged and left to resume(), which the node runs
   * every heartbeat; the client is not told its correct report failed.
   */
  private async advanceAfterReport(outcome: TaskOutcome): Promise<void> {
    await this.advance(outcome.task.jobId, outcome.task.round).catch((err: unknown) => {
      this.options.log.error({ err, jobId: outcome.task.jobId, round: outcome.task.round }, 'compute round could not be merged now; resume() will retry');
    });
  }

  /**
   * The node's sweep (on start and every heartbeat): closes rounds past their deadline (their
   * unanswered tasks fail with TASK_DEADLINE_EXCEEDED), then merges every round that waits for
   * it (left by a crash, or ended by exhausted leases or a deadline).
   */
  async resume(): Promise<number> {
    let ready: Array<{ jobId: string; round: number }>;
    try {
      // One pass: rounds past their deadline are closed, and every complete round is listed.
      const swept = await this.options.queue.sweepRounds((job) => this.roundTimeoutOf(job));
      for (const closed of swept.closed) this.options.log.warn(closed, 'compute round deadline passed: unanswered tasks failed');
      ready = swept.ready;
    } catch (err) {
      this.options.log.error({ err }, 'compute round deadlines could not be checked now');
      ready = await this.options.queue.readyRounds();
    }
    for (const { jobId, round } of ready) {
      if (this.closed) break;
      await this.advance(jobId, round).catch((err: unknown) => this.options.log.error({ err, jobId, round }, 'compute round could not be merged'));
    }
    return ready.length;
  }

  /** The round deadline of a job in seconds: its plan's, else the node's default (older plans), else none. */
  private roundTimeoutOf(job: ComputeJob): number | null {
    const given = (job.plan as { roundTimeoutSeconds?: unknown } | null)?.roundTimeoutSeconds;
    if (Number.isInteger(given) && (given as number) > 0) return given as number;
    return this.options.roundTimeoutSeconds ?? null;
  }

  close(): void {
    this.closed = true;
    this.states.clear();
  }

  /** Merges round `round` of the job and advances it; serialised per job, idempotent. */
  advance(jobId: string, round: number): Promise<ComputeJob> {
    const prior = this.merging.get(jobId) ?? Promise.resolve();
    const next = prior.catch(() => undefined).then(() => this.advanceNow(jobId, round));
    this.merging.set(jobId, next);
    void next.finally(() => {
      if (this.merging.get(jobId) === next) this.merging.delete(jobId);
    }).catch(() => undefined);
    return next;
  }

  private async advanceNow(jobId: string, round: number): Promise<ComputeJob> {
    const job = await this.options.storage.getComputeJob(jobId);
    if (!job) throw new MycelError('JOB_NOT_FOUND', { jobId });
    if (job.round !== round || job.status === 'done' || job.status === 'failed' || job.status === 'partial') return job;
    const tasks = await this.options.storage.listComputeTasks(jobId);
    const project = await this.options.storage.getComputeProject(job.projectId);
    const k = project?.smallCellK ?? DEFAULT_K;
    const anyFailed = tasks.some((t) => t.status === 'failed');
    let state: RoundState;
    try {
      state = this.stateOf(job, tasks, k);
    } catch (err) {
      return this.finish(job, round, { status: 'failed', error: taskErrorValue(err) });
    }
    const outputs = roundOutputs(tasks, round);
    if (outputs.length === 0) return this.finish(job, round, { status: 'failed', error: { code: 'TASK_FAILED', message: `no client finished round ${round}` } });
    let step: { next: RoundState } | { result: JobResult };
    try {
      step = mergeRound(state, outputs, { k });
    } catch (err) {
      return this.finish(job, round, { status: 'failed', error: taskErrorValue(err) });
    }
    if ('result' in step) {
      this.states.delete(jobId);
      return this.finish(job, round, { status: anyFailed ? 'partial' : 'done', result: step.result });
    }
    const inputs: Record<string, unknown> = {};
    for (const o of outputs) inputs[o.clientId] = step.next.input;
    const advanced = await this.options.queue.advanceJob(jobId, round, { nextRound: { inputs } });
    this.states.set(jobId, step.next);
    this.options.onJobAdvanced?.(advanced);
    return advanced;
  }

  private async finish(job: ComputeJob, round: number, finish: { status: 'done' | 'failed' | 'partial'; result?: unknown; error?: unknown }): Promise<ComputeJob> {
    this.states.delete(job.id);
    const finished = await this.options.queue.advanceJob(job.id, round, { finish: await this.resultAsBlob(finish) });
    this.options.log.info({ jobId: job.id, status: finished.status, round }, 'compute job finished');
    this.options.onJobAdvanced?.(finished);
    return finished;
  }

  /**
   * With a blob store, the result goes there and the job names it (resultBlobSha256): results
   * may then be larger than a database value (MAX_RESULT_BLOB_BYTES). A result past even that
   * fails the job with COMPUTE_VALUE_TOO_LARGE.
   */
  private async resultAsBlob<F extends { status: 'done' | 'failed' | 'partial'; result?: unknown; error?: unknown }>(finish: F): Promise<F | (Omit<F, 'result'> & { resultBlobSha256: string }) | { status: 'failed'; error: unknown }> {
    const store = this.options.storeResult;
    if (!store || finish.result === undefined || finish.result === null) return finish;
    const bytes = Buffer.from(canonicalJson(finish.result));
    if (bytes.length > MAX_RESULT_BLOB_BYTES) {
      return { status: 'failed', error: taskErrorValue(new MycelError('COMPUTE_VALUE_TOO_LARGE', { field: 'result', bytes: bytes.length, maxBytes: MAX_RESULT_BLOB_BYTES }, `the job's result is ${bytes.length} bytes as JSON, more than ${MAX_RESULT_BLOB_BYTES}`)) };
    }
    const { result: _, ...rest } = finish;
    return { ...rest, resultBlobSha256: await store(bytes) };
  }

  /** The job's state at its current round: kept in memory, or replayed from the stored outputs. */
  private stateOf(job: ComputeJob, tasks: readonly ComputeTask[], k: number): RoundState {
    const kept = this.states.get(job.id);
    if (kept && kept.round === job.round) return kept;
    let state = firstRound(parsePlan(job.plan));
    while (state.round < job.round) {
      const step = mergeRound(state, roundOutputs(tasks, state.round), { k });
      if ('result' in step) throw new MycelError('JOB_ROUND_MISMATCH', { jobId: job.id, round: job.round }, 'the job\'s stored rounds end before its current round');
      state = step.next;
    }
    return state;
  }
}

/** The outputs of a round's finished tasks, by client id: the merge (and its rounding) does not depend on who finished first. */
function roundOutputs(tasks: readonly ComputeTask[], round: number): Array<{ clientId: string; output: unknown }> {
  return tasks
    .filter((t) => t.round === round && t.status === 'done')
    .map((t) => ({ clientId: t.clientId, output: t.output }))
    .sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
}
