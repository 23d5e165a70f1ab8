import { z } from 'zod';
import { canonicalJson } from '../lib/canonical-json.js';
import { COMPUTE_CHANGE_TYPES, COMPUTE_JOB_STATUSES, COMPUTE_TASK_STATUSES, FINISHED_JOB_STATUSES, type ComputeChangeType, type ComputeJob, type ComputeTask } from '../model/compute.js';
import type { Change } from '../model/content.js';
import type { StorageTx } from '../storage/storage.js';
import { invalidChange as invalid, parseVersionedPayload } from './change-payload.js';

/*
 * Applying a compute change (model/compute.ts): the same contract as apply.ts (replication
 * imports and `mycel verify` replays with it; untrusted input; applying again is a no-op).
 * Every compute change carries whole records, written by domain/compute-*.ts:
 * - compute.project.created {project}, compute.client.joined {client}: inserted when absent;
 *   when present, the fields that never change must match;
 * - compute.job.submitted {job}, compute.task.created {task}: the same, for the job or task;
 * - compute.job.updated / compute.job.finished {job}, compute.task.leased / completed / failed
 *   {task}: the stored record is replaced unless it is newer (updatedAt greater), like
 *   post.edited; the log keeps one job's changes in order, so equal times apply in order.
 * Jobs and their tasks have one writer: the job's origin node. A task change from another
 * origin than its job's is refused (CHANGE_INVALID), as is a job change from another origin.
 * No payload holds a secret: project tokens and invitations never leave their node.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const id = z.string().regex(UUID, 'must be a lower-case UUID');
const millis = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const name = z.string().min(1).max(255);
/** Any JSON value (the compute service gives it meaning); absent reads as null. */
const json = z.unknown().transform((v) => (v === undefined ? null : v));

const projectSchema = z.strictObject({ id, name, smallCellK: count, originNodeId: id, createdAt: millis });
const datasourceSchema = z.strictObject({
  columns: z.array(z.strictObject({ name: z.string().max(256), type: z.string().max(64), numeric: z.boolean() })).max(4096),
  rows: count,
});
const bindingSchema = z.strictObject({ name, type: z.string().max(255), projects: z.array(name).max(1000), schema: datasourceSchema.optional() });
const clientSchema = z.strictObject({
  id,
  name,
  publicKey: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a raw Ed25519 key in base64url'),
  datasources: z.array(bindingSchema).max(1000),
  joinedAt: millis,
  originNodeId: id,
});
const jobSchema = z.strictObject({
  id,
  projectId: id,
  datasource: name,
  plan: json,
  status: z.enum(COMPUTE_JOB_STATUSES),
  round: count.min(1),
  maxAttempts: count.min(1),
  leaseSeconds: count.min(1),
  submittedBy: z.string().max(512),
  originNodeId: id,
  createdAt: millis,
  updatedAt: millis,
  result: json,
  resultBlobSha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
  error: json,
});
const taskSchema = z.strictObject({
  id,
  jobId: id,
  round: count.min(1),
  clientId: id,
  datasource: name,
  input: json,
  status: z.enum(COMPUTE_TASK_STATUSES),
  leaseId: id.nullable(),
  leaseExpiresAt: millis.nullable(),
  attempts: count,
  output: json,
  error: json,
  createdAt: millis,
  updatedAt: millis,
});

/** Payload schemas by change type and version: what domain/compute-*.ts writes. */
const PAYLOADS = {
  'compute.project.created': { 1: z.strictObject({ project: projectSchema }) },
  'compute.client.joined': { 1: z.strictObject({ client: clientSchema }) },
  'compute.job.submitted': { 1: z.strictObject({ job: jobSchema }) },
  'compute.job.updated': { 1: z.strictObject({ job: jobSchema }) },
  'compute.job.finished': { 1: z.strictObject({ job: jobSchema }) },
  'compute.task.created': { 1: z.strictObject({ task: taskSchema }) },
  'compute.task.leased': { 1: z.strictObject({ task: taskSchema }) },
  'compute.task.completed': { 1: z.strictObject({ task: taskSchema }) },
  'compute.task.failed': { 1: z.strictObject({ task: taskSchema }) },
} as const satisfies Record<ComputeChangeType, Record<number, z.ZodType>>;

type Payload<K extends ComputeChangeType> = z.output<(typeof PAYLOADS)[K][1]>;

function payloadOf<K extends ComputeChangeType>(change: Change, type: K): Payload<K> {
  return parseVersionedPayload<Payload<K>>(change, PAYLOADS[type]);
}

const COMPUTE_TYPES: ReadonlySet<string> = new Set(COMPUTE_CHANGE_TYPES);

export function isComputeChange(change: Change): boolean {
  return COMPUTE_TYPES.has(change.type);
}

/** The fields named must be equal (JSON values compared canonically). */
function checkFixed<T extends object>(change: Change, kind: string, stored: T, incoming: T, fields: readonly (keyof T & string)[]): void {
  for (const field of fields) {
    if (canonicalJson(stored[field] ?? null) !== canonicalJson(incoming[field] ?? null)) {
      throw invalid(change, `${kind}.${field} differs from the stored ${kind} (it never changes)`, { field });
    }
  }
}

function checkOrigin(change: Change, originNodeId: string, kind: string): void {
  if (originNodeId !== change.originNodeId) {
    throw invalid(change, `${kind} belongs to node ${originNodeId}, not to the change's origin ${change.originNodeId}`);
  }
}

const JOB_FIXED = ['projectId', 'datasource', 'plan', 'maxAttempts', 'leaseSeconds', 'submittedBy', 'originNodeId', 'createdAt'] as const;
const TASK_FIXED = ['jobId', 'round', 'clientId', 'datasource', 'input', 'createdAt'] as const;

async function jobOf(tx: StorageTx, change: Change, jobId: string): Promise<ComputeJob> {
  const job = await tx.getComputeJob(jobId);
  if (!job) throw invalid(change, `compute job ${jobId} does not exist`);
  checkOrigin(change, job.originNodeId, `compute job ${jobId}`);
  return job;
}

async function jobWritten(tx: StorageTx, change: Change, job: ComputeJob, created: boolean): Promise<void> {
  checkOrigin(change, job.originNodeId, 'job');
  const finished = FINISHED_JOB_STATUSES.includes(job.status);
  if (change.type === 'compute.job.finished' && !finished) throw invalid(change, `job.status ${job.status} is not a finished status`);
  if (change.type !== 'compute.job.finished' && finished) throw invalid(change, `job.status ${job.status} belongs in compute.job.finished`);
  const stored = await tx.getComputeJob(job.id);
  if (stored) {
    checkFixed(change, 'job', stored, job, JOB_FIXED);
    if (created || stored.updatedAt > job.updatedAt) return;
    await tx.updateComputeJob(job);
    return;
  }
  if (!created) throw invalid(change, `compute job ${job.id} does not exist`);
  if (!(await tx.getComputeProject(job.projectId))) throw invalid(change, `compute project ${job.projectId} does not exist`);
  await tx.insertComputeJob(job);
}

const TASK_STATUS_OF: Partial<Record<ComputeChangeType, ComputeTask['status']>> = {
  'compute.task.created': 'queued',
  'compute.task.leased': 'leased',
  'compute.task.completed': 'done',
  'compute.task.failed': 'failed',
};

async function taskWritten(tx: StorageTx, change: Change, task: ComputeTask): Promise<void> {
  const expected = TASK_STATUS_OF[change.type as ComputeChangeType];
  if (task.status !== expected) throw invalid(change, `task.status must be ${String(expected)} in ${change.type}`);
  await jobOf(tx, change, task.jobId);
  const stored = await tx.getComputeTask(task.id);
  const created = change.type === 'compute.task.created';
  if (stored) {
    checkFixed(change, 'task', stored, task, TASK_FIXED);
    if (created || stored.updatedAt > task.updatedAt) return;
    await tx.updateComputeTask(task);
    return;
  }
  if (!created) throw invalid(change, `compute task ${task.id} does not exist`);
  if (!(await tx.getComputeClient(task.clientId))) throw invalid(change, `compute client ${task.clientId} does not exist`);
  await tx.insertComputeTask(task);
}

/** Makes the compute tables reflect `change` (a compute.* type) inside `tx`. */
export async function applyComputeChange(tx: StorageTx, change: Change): Promise<void> {
  switch (change.type as ComputeChangeType) {
    case 'compute.project.created': {
      const { project } = payloadOf(change, 'compute.project.created');
      checkOrigin(change, project.originNodeId, 'project');
      const stored = await tx.getComputeProject(project.id);
      if (stored) return checkFixed(change, 'project', stored, project, ['name', 'smallCellK', 'originNodeId', 'createdAt']);
      const same = await tx.getComputeProjectByName(project.originNodeId, project.name);
      if (same) throw invalid(change, `project ${same.id} of node ${project.originNodeId} is named ${project.name} already`);
      await tx.insertComputeProject(project, null);
      return;
    }
    case 'compute.client.joined': {
      const { client } = payloadOf(change, 'compute.client.joined');
      checkOrigin(change, client.originNodeId, 'client');
      const incoming = { ...client, lastSeenAt: null };
      const stored = await tx.getComputeClient(client.id);
      if (stored) return checkFixed(change, 'client', stored, incoming, ['name', 'publicKey', 'datasources', 'joinedAt', 'originNodeId']);
      const sameKey = await tx.getComputeClientByPublicKey(client.publicKey);
      if (sameKey) throw invalid(change, `client ${sameKey.id} has this public key already`);
      await tx.insertComputeClient(incoming);
      return;
    }
    case 'compute.job.submitted':
      return jobWritten(tx, change, payloadOf(change, 'compute.job.submitted').job as ComputeJob, true);
    case 'compute.job.updated':
      return jobWritten(tx, change, payloadOf(change, 'compute.job.updated').job as ComputeJob, false);
    case 'compute.job.finished':
      return jobWritten(tx, change, payloadOf(change, 'compute.job.finished').job as ComputeJob, false);
    case 'compute.task.created':
    case 'compute.task.leased':
    case 'compute.task.completed':
    case 'compute.task.failed': {
      const versions = PAYLOADS[change.type as 'compute.task.created'];
      const { task } = parseVersionedPayload<Payload<'compute.task.created'>>(change, versions);
      return taskWritten(tx, change, task as ComputeTask);
    }
  }
}
