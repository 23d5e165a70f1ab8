/**
 * Federated compute on the node side (docs/compute.md "Node side"): projects, client
 * registrations, jobs and their tasks. Times are ms since the epoch; ids are UUIDv7 strings.
 * Plans, task inputs and outputs, results and errors are opaque JSON values here: the compute
 * service (src/compute) validates what they mean, the domain bounds their size.
 *
 * What replicates (in the change log, the content digest and `mycel verify`): projects without
 * their token hash, clients without lastSeenAt, jobs and tasks whole. Invitations, token hashes
 * and lastSeenAt are this node's local state and never leave it.
 */

/** A project: a name that a token opens. Its token is configuration (compute.projects), never stored. */
export interface ComputeProject {
  id: string;
  name: string;
  /** Smallest group a result may describe (small-cell suppression); the compute service applies it. */
  smallCellK: number;
  originNodeId: string;
  createdAt: number;
}

/** A single-use invitation for a compute client (local: never replicated). */
export interface ComputeInvitation {
  id: string;
  /** sha256 hex of the secret; the secret is shown once at creation. */
  secretHash: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  /** The client id that used it. */
  usedBy: string | null;
}

/** A datasource a client holds, and the projects it is bound to (by name). */
export interface ComputeDatasourceBinding {
  name: string;
  type: string;
  projects: string[];
  /** The datasource's columns and row count as the client read them at join (never a value); absent when it sent none. */
  schema?: ComputeDatasourceSchema;
}

/** What a client tells of a datasource: its header, the types read, the row count. */
export interface ComputeDatasourceSchema {
  columns: Array<{ name: string; type: string; numeric: boolean }>;
  rows: number;
}

/** A compute client that joined with an invitation; it signs its requests with `publicKey`. */
export interface ComputeClient {
  id: string;
  name: string;
  /** Ed25519 public key, raw 32 bytes in base64url (src/lib/signed-request.ts). */
  publicKey: string;
  datasources: ComputeDatasourceBinding[];
  joinedAt: number;
  originNodeId: string;
  /** Local: the last time this node heard from it (not replicated). */
  lastSeenAt: number | null;
}

export const COMPUTE_JOB_STATUSES = ['queued', 'running', 'done', 'failed', 'partial'] as const;
export type ComputeJobStatus = (typeof COMPUTE_JOB_STATUSES)[number];
/** Statuses a job never leaves. */
export const FINISHED_JOB_STATUSES: readonly ComputeJobStatus[] = ['done', 'failed', 'partial'];

export interface ComputeJob {
  id: string;
  projectId: string;
  /** The datasource name every task of the job reads. */
  datasource: string;
  plan: unknown;
  status: ComputeJobStatus;
  /** The current round, from 1. */
  round: number;
  /** Leases a task may take before it fails with TASK_ATTEMPTS_EXHAUSTED. */
  maxAttempts: number;
  leaseSeconds: number;
  /** Who submitted it (`project:<name>`, `owner`, …). */
  submittedBy: string;
  originNodeId: string;
  createdAt: number;
  updatedAt: number;
  result: unknown;
  /** The result stored as a blob (sha256 hex), when the blob store holds it. */
  resultBlobSha256: string | null;
  /** Why it failed or is partial: the failing tasks' clients and errors. */
  error: unknown;
}

export const COMPUTE_TASK_STATUSES = ['queued', 'leased', 'done', 'failed'] as const;
export type ComputeTaskStatus = (typeof COMPUTE_TASK_STATUSES)[number];

/** One client's part of one round of a job. */
export interface ComputeTask {
  id: string;
  jobId: string;
  round: number;
  clientId: string;
  datasource: string;
  input: unknown;
  status: ComputeTaskStatus;
  /** The current lease (a fresh UUID per lease), or null when not leased. */
  leaseId: string | null;
  leaseExpiresAt: number | null;
  attempts: number;
  output: unknown;
  error: unknown;
  createdAt: number;
  updatedAt: number;
}

/** The change types of compute; every one carries whole records (see domain/apply-compute.ts). */
export const COMPUTE_CHANGE_TYPES = [
  'compute.project.created',
  'compute.client.joined',
  'compute.job.submitted',
  'compute.job.updated',
  'compute.job.finished',
  'compute.task.created',
  'compute.task.leased',
  'compute.task.completed',
  'compute.task.failed',
] as const;
export type ComputeChangeType = (typeof COMPUTE_CHANGE_TYPES)[number];
