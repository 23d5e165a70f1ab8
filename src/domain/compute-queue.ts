import { MycelError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { FINISHED_JOB_STATUSES, type ComputeJob, type ComputeJobStatus, type ComputeProject, type ComputeTask } from '../model/compute.js';
import type { Change, Page } from '../model/content.js';
import type { Storage, StorageReader } from '../storage/storage.js';
import { SIGNATURE_HEADERS } from '../lib/signed-request.js';
import { authorOf, hasOwnerRights, SYSTEM, type Actor } from './actor.js';
import type { CommitHook } from './commit-hook.js';
import { checkComputeName, checkComputeValue, DEFAULT_COMPUTE_VALUE_BYTES } from './compute-limits.js';
import type { SignedRequest } from './compute-clients.js';
import type { ComputeProjects } from './compute-projects.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { checkLimit } from './validation.js';
import { FORWARDED_OP_VERSION, type ChangeRef, type ComputeTaskAction, type ComputeTaskAnswer, type ComputeTaskOp, type ForwardResult, type RemoteWrites } from './forwarded-writes.js';
import { lastChangeRef, type UnitOfWork, type Writer } from './writer.js';

/**
 * The compute queue (docs/compute.md "Node side"): jobs, their rounds of tasks, and leases,
 * all through the one write path, so every step is in the change log (replicated, verified)
 * and survives a crash. The compute service (src/compute) drives it:
 *
 *   submitJob(token, { plan, datasource, firstRoundInput })   → job + one task per bound client
 *   pollTask(clientId, { timeoutMs, signal })                 → the client's next task with a lease, or null
 *   completeTask / failTask(clientId, taskId, leaseId, …)     → { roundComplete }
 *   advanceJob(jobId, round, { nextRound } | { finish })      → next round's tasks, or the job's end
 *   readyRounds()                                             → rounds waiting for their merge
 *   sweepRounds(timeoutOf)                                    → fails tasks of rounds past their deadline; lists the rounds ready
 *   jobStatus / listJobs                                      → for the workbench (token) or the owner
 *
 * Rules:
 * - A task belongs to one client (its datasource lies there): a lease that expires makes the
 *   task leasable again by the same client; each lease has a fresh id, and attempts count
 *   leases. A task whose lease expired `maxAttempts` times fails with TASK_ATTEMPTS_EXHAUSTED
 *   when it would be leased again. Expiry is checked lazily, by the lease query itself; no
 *   sweep is needed.
 * - Only the holder of the current, unexpired lease completes or fails a task
 *   (LEASE_NOT_HELD otherwise): after expiry the old holder's result is refused, even before
 *   the task is leased again. A client's failure is final (its error is kept on the task and,
 *   when the job ends, in the job's error, naming the client).
 * - Jobs and tasks have one writer, the job's origin node. A node holding a replica of another
 *   node's job forwards a client's lease, return, renewal, result and failure to the origin
 *   (RemoteWrites, as forwarded writes), with the client's signed request, which the origin
 *   checks itself (src/compute/relayed-task-op.ts), and answers once the origin's change is
 *   imported here. Without the network, or without the client's request (an in-process call),
 *   such an operation is refused with JOB_NOT_LOCAL; advancing a job is the origin's alone.
 * - Several instances on one PostgreSQL database share the queue: every write unit holds the
 *   change-log head lock, which serialises leases across instances, and the claim reads with
 *   FOR UPDATE SKIP LOCKED besides. On SQLite the one writer serialises.
 * - Long polls wake on a commit that creates a task for the client (the CommitHook here; on
 *   PostgreSQL, storage.onLogAdvance for commits of other instances, whose new changes are
 *   read once per advance), and when the client's earliest lease expires.
 */

export interface ComputeQueueOptions {
  /** Bound of each plan, input, output, result and error as canonical JSON. */
  maxValueBytes?: number;
  clock?: () => number;
}

export interface SubmitJobInput {
  plan: unknown;
  datasource: string;
  /** The input of every first-round task. */
  firstRoundInput: unknown;
  /** Leases a task may take (default 3, at most 100). */
  maxAttempts?: number;
  /** How long a lease lasts (default 60, from 1 to 86400). */
  leaseSeconds?: number;
}

/** A leased task with what the client needs to run it. */
export interface LeasedTask {
  task: ComputeTask;
  leaseId: string;
  leaseExpiresAt: number;
  /** The change that recorded the lease (at the job's origin). */
  change: ChangeRef | null;
  job: { id: string; projectId: string; projectName: string; plan: unknown; round: number; datasource: string; leaseSeconds: number };
}

export interface TaskOutcome {
  task: ComputeTask;
  /** Every task of the job's current round is done or failed: the job's origin merges and advances. */
  roundComplete: boolean;
  /** False when the job is another node's: the report went to its origin, which merges the round. */
  local: boolean;
  /** The change that recorded the report (at the job's origin). */
  change: ChangeRef | null;
}

export type AdvanceJob =
  | { nextRound: { inputs: Record<string, unknown> } }
  | { finish: { status: Exclude<ComputeJobStatus, 'queued' | 'running'>; result?: unknown; resultBlobSha256?: string | null; error?: unknown } };

/** Who asks about jobs: a project's token (its jobs) or an actor with owner rights (all). */
export type JobAccess = { token: string } | { actor: Actor };

export interface TaskStatusView {
  id: string;
  round: number;
  clientId: string;
  clientName: string | null;
  status: ComputeTask['status'];
  attempts: number;
  leaseExpiresAt: number | null;
  error: unknown;
}

export interface JobStatusView {
  job: ComputeJob;
  projectName: string;
  tasks: TaskStatusView[];
}

/** A job failure entry: which client failed and why. */
export interface TaskFailure {
  taskId: string;
  round: number;
  clientId: string;
  error: unknown;
}

const ROUND_DONE: ReadonlySet<ComputeTask['status']> = new Set(['done', 'failed']);
/** Most changes read to find whom a commit of another instance woke; past it every poll looks. */
const MAX_WAKE_READ = 1000;
/** A poll records the client's last-seen time when the stored one is older than this. */
const LAST_SEEN_RESOLUTION_MS = 60_000;
/** Most tasks one lease call fails for exhausted attempts before it answers. */
const MAX_EXHAUSTED_PER_LEASE = 1000;
/** After the origin refused a lease (or could not be reached), a poll looks again no sooner than this, unless a commit wakes it. */
const REMOTE_LEASE_RETRY_MS = 500;

function invalid(field: string, reason: string): MycelError {
  return new MycelError('VALIDATION_FAILED', { field, reason }, `${field}: ${reason}`);
}

function intIn(field: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) throw invalid(field, `must be an integer from ${min} to ${max}`);
  return value as number;
}

/** When a round's deadline passes: `seconds` after its tasks were created (null: no tasks). */
function roundDeadline(tasks: readonly ComputeTask[], seconds: number): number | null {
  if (tasks.length === 0) return null;
  return Math.min(...tasks.map((t) => t.createdAt)) + seconds * 1000;
}

function isFinished(job: ComputeJob): boolean {
  return FINISHED_JOB_STATUSES.includes(job.status);
}

type Waker = () => void;

export class ComputeQueue {
  private readonly maxValueBytes: number;
  private readonly clock: () => number;
  private readonly waiters = new Map<string, Set<Waker>>();
  /** The highest serial whose changes were looked at for wake-ups. */
  private seenSerial = 0;
  private readonly unsubscribe: Array<() => void> = [];
  private remote: RemoteWrites | null = null;

  constructor(
    private readonly storage: StorageReader & Partial<Pick<Storage, 'onLogAdvance'>>,
    private readonly writer: Writer,
    hook: CommitHook,
    private readonly projects: ComputeProjects,
    private readonly nodeId: string,
    options: ComputeQueueOptions = {},
  ) {
    this.maxValueBytes = options.maxValueBytes ?? DEFAULT_COMPUTE_VALUE_BYTES;
    this.clock = options.clock ?? Date.now;
    this.unsubscribe.push(hook.on((changes) => this.wakeFor(changes)));
    if (this.storage.onLogAdvance) this.unsubscribe.push(this.storage.onLogAdvance((serial) => void this.onLogAdvance(serial)));
  }

  /** The network's forwarding, for operations on other nodes' jobs (null: refused with JOB_NOT_LOCAL). */
  setRemoteWrites(remote: RemoteWrites | null): void {
    this.remote = remote;
  }

  /** Stops listening to commits (waiting polls still end at their timeout). */
  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    for (const set of this.waiters.values()) for (const wake of set) wake();
  }

  // ---- jobs ----

  /** Submits a job for the project `token` opens: one first-round task per client bound to it. */
  async submitJob(token: string, input: SubmitJobInput): Promise<{ job: ComputeJob; tasks: ComputeTask[] }> {
    const project = await this.projects.byToken(token);
    const datasource = checkComputeName('datasource', input.datasource);
    const plan = checkComputeValue('plan', input.plan, this.maxValueBytes);
    const firstInput = checkComputeValue('firstRoundInput', input.firstRoundInput, this.maxValueBytes);
    const maxAttempts = intIn('maxAttempts', input.maxAttempts, 3, 1, 100);
    const leaseSeconds = intIn('leaseSeconds', input.leaseSeconds, 60, 1, 86_400);
    return this.writer.run(async (unit) => {
      const clients = await this.boundClients(unit, project, datasource);
      if (clients.length === 0) throw new MycelError('JOB_NO_CLIENTS', { project: project.name, datasource });
      const job: ComputeJob = {
        id: newId(),
        projectId: project.id,
        datasource,
        plan,
        status: 'queued',
        round: 1,
        maxAttempts,
        leaseSeconds,
        submittedBy: `project:${project.name}`,
        originNodeId: unit.nodeId,
        createdAt: unit.now,
        updatedAt: unit.now,
        result: null,
        resultBlobSha256: null,
        error: null,
      };
      await unit.tx.insertComputeJob(job);
      await unit.append('compute.job.submitted', { job });
      const tasks: ComputeTask[] = [];
      for (const clientId of clients) tasks.push(await this.createTask(unit, job, clientId, firstInput));
      return { job, tasks };
    });
  }

  /**
   * Advances a job whose current round `round` is complete: creates the next round's tasks
   * (one per client named in `inputs`; each must be bound to the job's project and datasource)
   * or finishes it. Repeating the same call is a no-op that returns the job.
   */
  async advanceJob(jobId: string, round: number, next: AdvanceJob): Promise<ComputeJob> {
    let inputs: Array<[string, unknown]> | null = null;
    let finish: Extract<AdvanceJob, { finish: unknown }>['finish'] | null = null;
    if ('nextRound' in next) {
      const given = next.nextRound?.inputs;
      if (given === null || typeof given !== 'object' || Array.isArray(given) || Object.keys(given).length === 0) throw invalid('nextRound.inputs', 'must name at least one client');
      inputs = Object.entries(given).map(([clientId, value]) => [clientId, checkComputeValue(`nextRound.inputs.${clientId}`, value, this.maxValueBytes)]);
    } else {
      finish = next.finish;
      if (!finish || !['done', 'failed', 'partial'].includes(finish.status)) throw invalid('finish.status', 'must be done, failed or partial');
      checkComputeValue('finish.result', finish.result, this.maxValueBytes);
      checkComputeValue('finish.error', finish.error, this.maxValueBytes);
      if (finish.resultBlobSha256 != null && !/^[0-9a-f]{64}$/.test(finish.resultBlobSha256)) throw invalid('finish.resultBlobSha256', 'must be 64 lower-case hex digits');
    }
    return this.writer.run(async (unit) => {
      const job = await this.localJob(unit.tx, jobId);
      const mismatch = () => new MycelError('JOB_ROUND_MISMATCH', { jobId, round, jobRound: job.round, status: job.status });
      if (isFinished(job)) {
        if (finish && job.round === round && job.status === finish.status) return job;
        throw mismatch();
      }
      if (job.round === round + 1 && inputs) return job;
      if (job.round !== round) throw mismatch();
      const tasks = (await unit.tx.listComputeTasks(jobId)).filter((t) => t.round === round);
      if (tasks.some((t) => !ROUND_DONE.has(t.status))) throw new MycelError('ROUND_NOT_COMPLETE', { jobId, round });
      if (inputs) {
        const project = await this.projectOf(unit.tx, job);
        const bound = new Set(await this.boundClients(unit, project, job.datasource));
        for (const [clientId] of inputs) if (!bound.has(clientId)) throw invalid(`nextRound.inputs.${clientId}`, 'is not a client bound to the job\'s project and datasource');
        const updated: ComputeJob = { ...job, round: round + 1, status: 'running', updatedAt: unit.now };
        await unit.tx.updateComputeJob(updated);
        await unit.append('compute.job.updated', { job: updated });
        for (const [clientId, value] of inputs) await this.createTask(unit, updated, clientId, value);
        return updated;
      }
      const f = finish!;
      const failures: TaskFailure[] = (await unit.tx.listComputeTasks(jobId))
        .filter((t) => t.status === 'failed')
        .map((t) => ({ taskId: t.id, round: t.round, clientId: t.clientId, error: t.error }));
      const given = f.error === undefined ? null : checkComputeValue('finish.error', f.error, this.maxValueBytes);
      const error = failures.length === 0 && given === null ? null : checkComputeValue('job.error', { reason: given, failures }, this.maxValueBytes);
      const finished: ComputeJob = {
        ...job,
        status: f.status,
        updatedAt: unit.now,
        result: f.result === undefined ? null : checkComputeValue('finish.result', f.result, this.maxValueBytes),
        resultBlobSha256: f.resultBlobSha256 ?? null,
        error,
      };
      await unit.tx.updateComputeJob(finished);
      await unit.append('compute.job.finished', { job: finished });
      return finished;
    });
  }

  /**
   * Unfinished jobs of this node whose current round is complete: each waits for its merge.
   * (A queued job's round completes only by its round deadline: no client leased a task.)
   */
  async readyRounds(limit = 1000): Promise<Array<{ jobId: string; round: number }>> {
    return (await this.sweepRounds(() => null, limit)).ready;
  }

  /**
   * One pass over the unfinished local jobs (the compute service's heartbeat). The round
   * deadline (docs/compute-queue.md "Round deadline"): fails, with TASK_DEADLINE_EXCEEDED, every
   * task not yet done or failed of a job's current round when the round started (its tasks were
   * created) more than `timeoutOf(job)` seconds ago; null means no deadline. Such a round is then
   * complete. One write unit per job, which checks again what it read: repeated or concurrent
   * sweeps (several instances) fail each task once. Returns the rounds it closed, and every
   * complete round (those just closed too), each waiting for its merge, which ends the job
   * partial or failed, or goes on with the clients that answered.
   */
  async sweepRounds(
    timeoutOf: (job: ComputeJob) => number | null,
    limit = 1000,
  ): Promise<{ closed: Array<{ jobId: string; round: number; clientIds: string[] }>; ready: Array<{ jobId: string; round: number }> }> {
    const closed: Array<{ jobId: string; round: number; clientIds: string[] }> = [];
    const ready: Array<{ jobId: string; round: number }> = [];
    for (const job of await this.unfinishedLocalJobs(limit)) {
      const tasks = (await this.storage.listComputeTasks(job.id)).filter((t) => t.round === job.round);
      if (tasks.length === 0) continue;
      if (tasks.every((t) => ROUND_DONE.has(t.status))) {
        ready.push({ jobId: job.id, round: job.round });
        continue;
      }
      const seconds = timeoutOf(job);
      if (seconds === null) continue;
      const deadlineAt = roundDeadline(tasks, seconds);
      if (deadlineAt === null || this.clock() < deadlineAt) continue;
      const clientIds = await this.writer.run(async (unit) => {
        const current = await unit.tx.getComputeJob(job.id);
        if (!current || isFinished(current) || current.round !== job.round) return [];
        const round = (await unit.tx.listComputeTasks(job.id)).filter((t) => t.round === current.round);
        const at = roundDeadline(round, seconds);
        if (at === null || unit.now < at) return [];
        const failed: string[] = [];
        for (const task of round) {
          if (ROUND_DONE.has(task.status)) continue;
          const client = await unit.tx.getComputeClient(task.clientId);
          const who = client ? `client ${client.name} (${task.clientId})` : `client ${task.clientId}`;
          const written: ComputeTask = {
            ...task,
            status: 'failed',
            leaseExpiresAt: null,
            error: {
              code: 'TASK_DEADLINE_EXCEEDED',
              message: `${who} did not answer round ${task.round} within its deadline of ${seconds} s`,
              details: { round: task.round, roundTimeoutSeconds: seconds, deadlineAt: at, clientId: task.clientId, clientName: client?.name ?? null, lastSeenAt: client?.lastSeenAt ?? null, statusAtDeadline: task.status, attempts: task.attempts },
            },
            updatedAt: unit.now,
          };
          await unit.tx.updateComputeTask(written);
          await unit.append('compute.task.failed', { task: written });
          failed.push(task.clientId);
        }
        return failed;
      });
      if (clientIds.length > 0) {
        closed.push({ jobId: job.id, round: job.round, clientIds });
        ready.push({ jobId: job.id, round: job.round });
      }
    }
    return { closed, ready };
  }

  /** A job with its tasks: which client holds, finished or failed which task and why. */
  async jobStatus(access: JobAccess, jobId: string): Promise<JobStatusView> {
    const job = await this.storage.getComputeJob(jobId);
    const projectId = await this.accessProjectId(access);
    if (!job || (projectId !== null && job.projectId !== projectId)) throw new MycelError('JOB_NOT_FOUND', { jobId });
    const project = await this.storage.getComputeProject(job.projectId);
    const names = new Map<string, string | null>();
    const tasks: TaskStatusView[] = [];
    for (const t of await this.storage.listComputeTasks(jobId)) {
      if (!names.has(t.clientId)) names.set(t.clientId, (await this.storage.getComputeClient(t.clientId))?.name ?? null);
      tasks.push({ id: t.id, round: t.round, clientId: t.clientId, clientName: names.get(t.clientId) ?? null, status: t.status, attempts: t.attempts, leaseExpiresAt: t.leaseExpiresAt, error: t.error });
    }
    return { job, projectName: project?.name ?? '', tasks };
  }

  /** Jobs by (createdAt, id): a token sees its project's, owner rights see all. */
  async listJobs(access: JobAccess, options: { cursor?: string; limit?: number } = {}): Promise<Page<ComputeJob>> {
    const projectId = await this.accessProjectId(access);
    const limit = checkLimit(options.limit);
    const after = options.cursor ? decodeCursor(options.cursor, { t: 'number', id: 'string' }) : undefined;
    const rows = await this.storage.listComputeJobs(projectId, { limit: limit + 1, ...(after ? { after: { createdAt: after.t as number, id: after.id as string } } : {}) });
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? encodeCursor({ t: last.createdAt, id: last.id }) : null };
  }

  // ---- leases ----

  /**
   * Leases the client's oldest leasable task (queued, or its lease expired) with a fresh lease;
   * null when it has none. Tasks past their attempts fail on the way (TASK_ATTEMPTS_EXHAUSTED).
   * When that task is of another node's job, the lease is taken at the job's origin with the
   * client's signed poll (`proof`): refusals and an unreachable origin are thrown.
   */
  async leaseNextTask(clientId: string, proof?: SignedRequest): Promise<LeasedTask | null> {
    const next = await this.leaseNext(clientId, proof);
    if (next instanceof MycelError) throw next;
    return next;
  }

  /** leaseNextTask, answering the origin's refusal (or NOT_CONNECTED_TO_ORIGIN, FORWARD_TIMEOUT…) instead of throwing it. */
  private async leaseNext(clientId: string, proof: SignedRequest | undefined): Promise<LeasedTask | MycelError | null> {
    const found = await this.writer.run(async (unit): Promise<LeasedTask | { taskId: string; originNodeId: string } | null> => {
      if (!(await unit.tx.getComputeClient(clientId))) throw new MycelError('COMPUTE_CLIENT_NOT_FOUND', { clientId });
      await unit.tx.touchComputeClient(clientId, unit.now);
      for (let i = 0; i <= MAX_EXHAUSTED_PER_LEASE; i++) {
        const task = await unit.tx.claimComputeTask(clientId, unit.now);
        if (!task) return null;
        const job = (await unit.tx.getComputeJob(task.jobId))!;
        // A replica's copy of another node's job is that node's to lease.
        if (job.originNodeId !== unit.nodeId) return { taskId: task.id, originNodeId: job.originNodeId };
        const leased = await this.leaseClaimed(unit, task, job);
        if (leased) return leased;
      }
      return null;
    });
    if (found === null || 'leaseId' in found) return found;
    if (!proof || !this.remote) return null;
    try {
      return await this.leaseAtOrigin(found.originNodeId, clientId, found.taskId, proof);
    } catch (err) {
      if (err instanceof MycelError) return err;
      throw err;
    }
  }

  /**
   * Leases one given task of the client (a lease forwarded from a replica): TASK_NOT_LEASABLE
   * when it is not the client's or not leasable now (leased, finished, or past its attempts, which
   * fails it). Another node's job: forwarded on to its origin with `proof`.
   */
  async leaseTask(clientId: string, taskId: string, proof?: SignedRequest): Promise<LeasedTask> {
    const origin = await this.remoteOrigin(taskId, proof);
    if (origin) return this.leaseAtOrigin(origin, clientId, taskId, proof!);
    const leased = await this.writer.run(async (unit) => {
      const task = await unit.tx.getComputeTask(taskId);
      const leasable = task !== null && task.clientId === clientId && (task.status === 'queued' || (task.status === 'leased' && task.leaseExpiresAt !== null && task.leaseExpiresAt <= unit.now));
      if (!leasable) return { refused: task === null || task.clientId !== clientId ? 'not a task of this client' : `the task is ${task.status}` };
      await unit.tx.touchComputeClient(clientId, unit.now);
      const job = await this.localJob(unit.tx, task.jobId);
      return (await this.leaseClaimed(unit, task, job)) ?? { refused: 'the task had used all its attempts: it failed' };
    });
    if ('refused' in leased) throw new MycelError('TASK_NOT_LEASABLE', { taskId, reason: leased.refused });
    return leased;
  }

  /** Leases a leasable task of a local job, or fails it when its attempts are used up (null). */
  private async leaseClaimed(unit: UnitOfWork, task: ComputeTask, job: ComputeJob): Promise<LeasedTask | null> {
    if (task.attempts >= job.maxAttempts) {
      const failed: ComputeTask = {
        ...task,
        status: 'failed',
        leaseExpiresAt: null,
        error: { code: 'TASK_ATTEMPTS_EXHAUSTED', message: `the task's lease expired ${task.attempts} times`, attempts: task.attempts },
        updatedAt: unit.now,
      };
      await unit.tx.updateComputeTask(failed);
      await unit.append('compute.task.failed', { task: failed });
      return null;
    }
    const leased: ComputeTask = {
      ...task,
      status: 'leased',
      leaseId: newId(),
      leaseExpiresAt: unit.now + job.leaseSeconds * 1000,
      attempts: task.attempts + 1,
      updatedAt: unit.now,
    };
    await unit.tx.updateComputeTask(leased);
    await unit.append('compute.task.leased', { task: leased });
    if (job.status === 'queued') {
      const running: ComputeJob = { ...job, status: 'running', updatedAt: unit.now };
      await unit.tx.updateComputeJob(running);
      await unit.append('compute.job.updated', { job: running });
    }
    const project = await this.projectOf(unit.tx, job);
    return {
      task: leased,
      leaseId: leased.leaseId!,
      leaseExpiresAt: leased.leaseExpiresAt!,
      change: lastChangeRef(unit),
      job: { id: job.id, projectId: job.projectId, projectName: project.name, plan: job.plan, round: job.round, datasource: job.datasource, leaseSeconds: job.leaseSeconds },
    };
  }

  /** Takes the lease at the job's origin; answers with this node's copy of the task and job, imported before `forward` resolved. */
  private async leaseAtOrigin(originNodeId: string, clientId: string, taskId: string, proof: SignedRequest): Promise<LeasedTask> {
    const result = await this.forwardTaskOp(originNodeId, 'lease', taskId, proof);
    const answer = taskAnswer(result);
    const task = await this.storage.getComputeTask(taskId);
    const job = task ? await this.storage.getComputeJob(task.jobId) : null;
    if (!task || !job || task.clientId !== clientId || answer.leaseId === undefined || answer.leaseExpiresAt === undefined) {
      throw new MycelError('INTERNAL', { reason: `the origin's lease of task ${taskId} is not here after its import` });
    }
    const project = await this.projectOf(this.storage, job);
    return {
      // A later change of the origin may have been imported with it: the lease is the origin's answer.
      task: { ...task, status: 'leased', leaseId: answer.leaseId, leaseExpiresAt: answer.leaseExpiresAt },
      leaseId: answer.leaseId,
      leaseExpiresAt: answer.leaseExpiresAt,
      change: result.change,
      job: { id: job.id, projectId: job.projectId, projectName: project.name, plan: job.plan, round: task.round, datasource: job.datasource, leaseSeconds: job.leaseSeconds },
    };
  }

  /** The origin of the task's job when that is another node and the operation can go there (the network and the client's request are at hand); else null: the local path decides. */
  private async remoteOrigin(taskId: string, proof: SignedRequest | undefined): Promise<string | null> {
    if (!proof || !this.remote) return null;
    const task = await this.storage.getComputeTask(taskId);
    const job = task ? await this.storage.getComputeJob(task.jobId) : null;
    return job && job.originNodeId !== this.nodeId ? job.originNodeId : null;
  }

  /** Sends the client's operation on a task to the job's origin (over the node network). */
  private forwardTaskOp(originNodeId: string, action: ComputeTaskAction, taskId: string, proof: SignedRequest, leaseId?: string): Promise<ForwardResult> {
    const headers: Record<string, string> = {};
    for (const name of Object.values(SIGNATURE_HEADERS)) {
      const value = proof.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const op: ComputeTaskOp = {
      v: FORWARDED_OP_VERSION,
      type: 'compute.task',
      action,
      taskId,
      ...(leaseId === undefined ? {} : { leaseId }),
      request: { method: proof.method, path: proof.path, body: typeof proof.body === 'string' ? proof.body : Buffer.from(proof.body).toString('utf8'), headers },
    };
    return this.remote!.forward(originNodeId, op, SYSTEM);
  }

  /**
   * Gives back a lease its client never received (the poll's connection closed before the
   * answer went out): the task is leasable again at once and the attempt does not count. False
   * when the lease is no longer the task's current one.
   */
  async returnLease(clientId: string, taskId: string, leaseId: string, proof?: SignedRequest): Promise<boolean> {
    return (await this.returnLeaseTraced(clientId, taskId, leaseId, proof)) !== null;
  }

  /** returnLease, answering the change that gave the lease back (null: nothing to give back). */
  async returnLeaseTraced(clientId: string, taskId: string, leaseId: string, proof?: SignedRequest): Promise<ChangeRef | null> {
    const origin = await this.remoteOrigin(taskId, proof);
    if (origin) return (await this.forwardTaskOp(origin, 'return', taskId, proof!, leaseId)).change;
    const returned = await this.writer.run(async (unit) => {
      const task = await unit.tx.getComputeTask(taskId);
      if (!task || task.clientId !== clientId || task.status !== 'leased' || task.leaseId !== leaseId) return null;
      if (task.leaseExpiresAt === null || task.leaseExpiresAt <= unit.now) return null;
      const back: ComputeTask = { ...task, leaseExpiresAt: unit.now, attempts: Math.max(0, task.attempts - 1), updatedAt: unit.now };
      await unit.tx.updateComputeTask(back);
      await unit.append('compute.task.leased', { task: back });
      return lastChangeRef(unit);
    });
    if (returned) this.wake(clientId);
    return returned;
  }

  /**
   * Extends the lease the client holds on a task it is still running by the job's lease length
   * from now (the client renews while a task runs, so a task longer than a lease is not taken
   * from it). LEASE_NOT_HELD when the lease expired or is not the task's current one.
   */
  async renewLease(clientId: string, taskId: string, leaseId: string, proof?: SignedRequest): Promise<{ leaseExpiresAt: number; change: ChangeRef | null }> {
    const origin = await this.remoteOrigin(taskId, proof);
    if (origin) {
      const result = await this.forwardTaskOp(origin, 'renew', taskId, proof!);
      const { leaseExpiresAt } = taskAnswer(result);
      if (leaseExpiresAt === undefined) throw new MycelError('INTERNAL', { reason: 'the origin answered a renewal without its expiry' });
      return { leaseExpiresAt, change: result.change };
    }
    return this.writer.run(async (unit) => {
      const { task, job } = await this.heldTask(unit, clientId, taskId, leaseId);
      const renewed: ComputeTask = { ...task, leaseExpiresAt: unit.now + job.leaseSeconds * 1000, updatedAt: unit.now };
      await unit.tx.updateComputeTask(renewed);
      await unit.append('compute.task.leased', { task: renewed });
      return { leaseExpiresAt: renewed.leaseExpiresAt!, change: lastChangeRef(unit) };
    });
  }

  /** The task and its (local) job when `clientId` holds `leaseId`, the task's current, unexpired lease: TASK_NOT_FOUND / LEASE_NOT_HELD otherwise. */
  private async heldTask(unit: UnitOfWork, clientId: string, taskId: string, leaseId: string): Promise<{ task: ComputeTask; job: ComputeJob }> {
    const task = await unit.tx.getComputeTask(taskId);
    if (!task) throw new MycelError('TASK_NOT_FOUND', { taskId });
    const job = await this.localJob(unit.tx, task.jobId);
    const held = task.clientId === clientId && task.status === 'leased' && task.leaseId === leaseId && task.leaseExpiresAt !== null && task.leaseExpiresAt > unit.now;
    if (!held) throw new MycelError('LEASE_NOT_HELD', { taskId, status: task.status });
    return { task, job };
  }

  /** Completes a task the client holds the current lease of. */
  completeTask(clientId: string, taskId: string, leaseId: string, output: unknown, proof?: SignedRequest): Promise<TaskOutcome> {
    const value = checkComputeValue('output', output, this.maxValueBytes);
    return this.finishTask(clientId, taskId, leaseId, (task, now) => ({ ...task, status: 'done', output: value, leaseExpiresAt: null, updatedAt: now }), 'compute.task.completed', proof);
  }

  /** Fails a task the client holds the current lease of, with its error (final: not retried). */
  failTask(clientId: string, taskId: string, leaseId: string, error: unknown, proof?: SignedRequest): Promise<TaskOutcome> {
    const value = checkComputeValue('error', error, this.maxValueBytes);
    return this.finishTask(clientId, taskId, leaseId, (task, now) => ({ ...task, status: 'failed', error: value, leaseExpiresAt: null, updatedAt: now }), 'compute.task.failed', proof);
  }

  private async finishTask(
    clientId: string,
    taskId: string,
    leaseId: string,
    change: (task: ComputeTask, now: number) => ComputeTask,
    type: 'compute.task.completed' | 'compute.task.failed',
    proof: SignedRequest | undefined,
  ): Promise<TaskOutcome> {
    const origin = await this.remoteOrigin(taskId, proof);
    if (origin) {
      const result = await this.forwardTaskOp(origin, type === 'compute.task.completed' ? 'complete' : 'fail', taskId, proof!);
      const answer = taskAnswer(result);
      const task = await this.storage.getComputeTask(taskId);
      if (!task) throw new MycelError('INTERNAL', { reason: `task ${taskId} is not here after the import of its report` });
      return { task, roundComplete: answer.roundComplete === true, local: false, change: result.change };
    }
    return this.writer.run(async (unit) => {
      const { task, job } = await this.heldTask(unit, clientId, taskId, leaseId);
      const written = change(task, unit.now);
      await unit.tx.updateComputeTask(written);
      await unit.append(type, { task: written });
      const round = (await unit.tx.listComputeTasks(job.id)).filter((t) => t.round === written.round);
      return { task: written, roundComplete: written.round === job.round && round.every((t) => ROUND_DONE.has(t.status)), local: true, change: lastChangeRef(unit) };
    });
  }

  // ---- long poll ----

  /**
   * Waits until a task may be leasable for the client: a commit created one, its earliest
   * lease expired, or `timeoutMs` passed / `signal` aborted. Resolves true when woken by the
   * first two (a hint: lease to find out), false on timeout or abort.
   */
  async waitForTask(clientId: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const wait = this.arm(clientId);
    try {
      if (await this.storage.findLeasableComputeTask(clientId, this.clock())) return true;
      if (await wait.until(await this.wakeDeadline(clientId, timeoutMs), signal)) return true;
      // The deadline may have been a lease expiry: look once more.
      return !signal?.aborted && (await this.storage.findLeasableComputeTask(clientId, this.clock())) !== null;
    } finally {
      wait.disarm();
    }
  }

  /**
   * The long poll: leases the client's next task, waiting up to `timeoutMs` for one. Returns as
   * soon as a task is there; null on timeout or abort. Records the client's last-seen time
   * (at most once a minute: a write per heartbeat would be a write per client per heartbeat).
   */
  async pollTask(clientId: string, options: { timeoutMs: number; signal?: AbortSignal; proof?: SignedRequest }): Promise<LeasedTask | null> {
    // The wait is measured on the monotonic clock; `clock` (wall time) decides lease expiry.
    const end = performance.now() + Math.max(0, options.timeoutMs);
    const client = await this.storage.getComputeClient(clientId);
    if (!client) throw new MycelError('COMPUTE_CLIENT_NOT_FOUND', { clientId });
    if (client.lastSeenAt === null || this.clock() - client.lastSeenAt >= LAST_SEEN_RESOLUTION_MS) {
      await this.writer.run((unit) => unit.tx.touchComputeClient(clientId, unit.now));
    }
    for (;;) {
      const wait = this.arm(clientId);
      try {
        // The origin of another node's job refused the lease (this copy lags it) or is out of
        // reach: look again after a pause or the next commit that brings the client a task.
        let refused = false;
        if (await this.storage.findLeasableComputeTask(clientId, this.clock())) {
          const next = await this.leaseNext(clientId, options.proof);
          if (next instanceof MycelError) refused = true;
          else if (next) return next;
        }
        const remaining = end - performance.now();
        if (remaining <= 0 || options.signal?.aborted) return null;
        const deadline = await this.wakeDeadline(clientId, remaining);
        await wait.until(refused ? Math.min(remaining, Math.max(deadline, REMOTE_LEASE_RETRY_MS)) : deadline, options.signal);
      } finally {
        wait.disarm();
      }
      if (options.signal?.aborted) return null;
    }
  }

  /** A deadline (ms from now) no later than the client's earliest lease expiry. */
  private async wakeDeadline(clientId: string, timeoutMs: number): Promise<number> {
    const expiry = await this.storage.nextComputeLeaseExpiry(clientId);
    const untilExpiry = expiry === null ? Infinity : Math.max(0, expiry - this.clock() + 1);
    // setTimeout takes at most 2^31-1 ms (longer fires at once).
    return Math.min(Math.max(0, timeoutMs), untilExpiry, 2 ** 31 - 1);
  }

  /** Registers a waker before the caller looks, so a commit in between is not missed. */
  private arm(clientId: string): { until(ms: number, signal?: AbortSignal): Promise<boolean>; disarm(): void } {
    let woken = false;
    let resolve: ((v: boolean) => void) | null = null;
    const wake: Waker = () => {
      woken = true;
      resolve?.(true);
    };
    let set = this.waiters.get(clientId);
    if (!set) this.waiters.set(clientId, (set = new Set()));
    set.add(wake);
    const disarm = () => {
      set.delete(wake);
      if (set.size === 0 && this.waiters.get(clientId) === set) this.waiters.delete(clientId);
    };
    return {
      disarm,
      until: (ms, signal) => {
        if (woken) return Promise.resolve(true);
        if (signal?.aborted) return Promise.resolve(false);
        return new Promise<boolean>((res) => {
          const timer = setTimeout(() => finish(false), ms);
          const onAbort = () => finish(false);
          const finish = (v: boolean) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            resolve = null;
            res(v);
          };
          resolve = finish;
          signal?.addEventListener('abort', onAbort, { once: true });
        });
      },
    };
  }

  private wake(clientId: string): void {
    const set = this.waiters.get(clientId);
    if (set) for (const w of [...set]) w();
  }

  /** Wakes the clients that a batch of changes gave a task (local commits: no read needed). */
  private wakeFor(changes: readonly Change[]): void {
    for (const c of changes) {
      if (c.serial > this.seenSerial) this.seenSerial = c.serial;
      if (c.type !== 'compute.task.created') continue;
      const clientId = (c.payload.task as { clientId?: unknown } | undefined)?.clientId;
      if (typeof clientId === 'string') this.wake(clientId);
    }
  }

  /** Another instance (or this one) committed: read what is new when anyone waits. */
  private async onLogAdvance(serial: number): Promise<void> {
    if (serial <= this.seenSerial) return;
    const from = this.seenSerial + 1;
    const known = this.seenSerial > 0;
    this.seenSerial = serial;
    if (this.waiters.size === 0) return;
    // Before the first commit seen here, or after a long gap, reading the changes would cost
    // more than letting each waiting poll look for itself.
    if (!known || serial - from >= MAX_WAKE_READ) {
      this.wakeAll();
      return;
    }
    try {
      const page = await this.storage.getChanges(from, serial - from + 1);
      this.wakeFor(page.filter((c) => c.serial <= serial));
    } catch {
      // A failed read must not leave a poll asleep: wake everyone, each looks for itself.
      this.wakeAll();
    }
  }

  private wakeAll(): void {
    for (const id of [...this.waiters.keys()]) this.wake(id);
  }

  // ---- helpers ----

  private async createTask(unit: UnitOfWork, job: ComputeJob, clientId: string, input: unknown): Promise<ComputeTask> {
    const task: ComputeTask = {
      id: newId(),
      jobId: job.id,
      round: job.round,
      clientId,
      datasource: job.datasource,
      input,
      status: 'queued',
      leaseId: null,
      leaseExpiresAt: null,
      attempts: 0,
      output: null,
      error: null,
      createdAt: unit.now,
      updatedAt: unit.now,
    };
    await unit.tx.insertComputeTask(task);
    await unit.append('compute.task.created', { task });
    return task;
  }

  /** Clients of this node holding `datasource` bound to the project, by (joinedAt, id). */
  private async boundClients(unit: UnitOfWork, project: ComputeProject, datasource: string): Promise<string[]> {
    return (await unit.tx.listComputeClients())
      .filter((c) => c.originNodeId === unit.nodeId && c.datasources.some((d) => d.name === datasource && d.projects.includes(project.name)))
      .map((c) => c.id);
  }

  /** Queued and running jobs of this node (a replica's copies are their origin's to run). */
  private async unfinishedLocalJobs(limit: number): Promise<ComputeJob[]> {
    const jobs = [...(await this.storage.listComputeJobsWithStatus('queued', limit)), ...(await this.storage.listComputeJobsWithStatus('running', limit))];
    return jobs.filter((job) => job.originNodeId === this.nodeId);
  }

  private async projectOf(reader: StorageReader, job: ComputeJob): Promise<ComputeProject> {
    const project = await reader.getComputeProject(job.projectId);
    if (!project) throw new MycelError('INTERNAL', { reason: `job ${job.id} names no stored project` });
    return project;
  }

  private async localJob(reader: StorageReader, jobId: string): Promise<ComputeJob> {
    const job = await reader.getComputeJob(jobId);
    if (!job) throw new MycelError('JOB_NOT_FOUND', { jobId });
    if (job.originNodeId !== this.nodeId) throw new MycelError('JOB_NOT_LOCAL', { jobId, originNodeId: job.originNodeId });
    return job;
  }

  private async accessProjectId(access: JobAccess): Promise<string | null> {
    if ('token' in access) return (await this.projects.byToken(access.token)).id;
    if (!hasOwnerRights(access.actor)) throw new MycelError('FORBIDDEN', { action: 'compute.jobs', actor: authorOf(access.actor) });
    return null;
  }
}

/** The task answer of a compute op's forward result (the origin's side: src/compute/relayed-task-op.ts). */
function taskAnswer(result: ForwardResult): ComputeTaskAnswer {
  return (result.entity ?? { id: '' }) as ComputeTaskAnswer;
}
