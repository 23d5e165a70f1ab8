/**
 * A small typed client for a workbench (docs/compute.md "Workbench client"): submits plans and
 * reads jobs with a project token, over the node's REST API. It holds the token in memory and
 * sends it as `Authorization: Bearer`, never in a URL. Errors are the node's MycelErrors (code,
 * message, details); a node that cannot be reached is NODE_UNREACHABLE.
 *
 *   const wb = new WorkbenchClient('https://node.example.org', token);
 *   const { job } = await wb.submit(plan);
 *   const status = await wb.status(job.id);          // per task: client, status, attempts, error
 *   const done = await wb.wait(job.id);              // polls until done, failed or partial
 *   const { result } = await wb.result(job.id);      // aggregates, never rows
 *   const { datasources } = await wb.datasources();  // bound clients' schemas
 */
import { errorFromAnswer, MycelError } from '../errors.js';
import { requestJson } from '../lib/json-request.js';
import type { JobResult } from './coordinator.js';

export type JobStatusName = 'queued' | 'running' | 'done' | 'failed' | 'partial';

export interface WorkbenchJob {
  id: string;
  projectId: string;
  datasource: string;
  plan: unknown;
  status: JobStatusName;
  round: number;
  maxAttempts: number;
  leaseSeconds: number;
  submittedBy: string;
  createdAt: number;
  updatedAt: number;
  /** `{ reason, failures: [{ taskId, round, clientId, error }] }` when failed or partial. */
  error: unknown;
}

export interface WorkbenchJobStatus {
  job: WorkbenchJob;
  project: string;
  tasks: Array<{ id: string; round: number; clientId: string; clientName: string | null; status: 'queued' | 'leased' | 'done' | 'failed'; attempts: number; leaseExpiresAt: number | null; error: unknown }>;
}

export interface WorkbenchResult {
  jobId: string;
  status: JobStatusName;
  /** Null until the job finishes (or when it failed). */
  /** The result's blob (`sha256://…`) when the node stores results as blobs; null otherwise. */
  resultBlob: string | null;
  result: JobResult | null;
  error: unknown;
}

export interface WorkbenchDatasources {
  project: string;
  datasources: Array<{ name: string; type: string; client: { id: string; name: string }; columns: Array<{ name: string; type: string; numeric: boolean }> | null; rows: number | null }>;
}

const FINISHED: ReadonlySet<JobStatusName> = new Set(['done', 'failed', 'partial']);

export class WorkbenchClient {
  private readonly base: string;

  constructor(
    url: string,
    private readonly token: string,
    private readonly options: { timeoutMs?: number } = {},
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  /** Submits a plan; PLAN_INVALID / OPERATION_UNKNOWN before anything runs. */
  submit(plan: unknown): Promise<{ job: WorkbenchJob }> {
    return this.request('POST', '/api/v1/compute/jobs', plan);
  }

  status(jobId: string): Promise<WorkbenchJobStatus> {
    return this.request('GET', `/api/v1/compute/jobs/${encodeURIComponent(jobId)}`);
  }

  /** RESOURCE_DOWNLOAD_DISABLED when the node forbids result downloads. */
  result(jobId: string): Promise<WorkbenchResult> {
    return this.request('GET', `/api/v1/compute/jobs/${encodeURIComponent(jobId)}/result`);
  }

  datasources(): Promise<WorkbenchDatasources> {
    return this.request('GET', '/api/v1/compute/datasources');
  }

  /** Polls the job's status every `intervalMs` until it is done, failed or partial (or `timeoutMs` passes: TASK_TIMEOUT). */
  async wait(jobId: string, options: { intervalMs?: number; timeoutMs?: number } = {}): Promise<WorkbenchJobStatus> {
    const deadline = Date.now() + (options.timeoutMs ?? 3_600_000);
    for (;;) {
      const status = await this.status(jobId);
      if (FINISHED.has(status.job.status)) return status;
      if (Date.now() > deadline) throw new MycelError('TASK_TIMEOUT', { jobId }, `job ${jobId} did not finish in time`);
      await new Promise((r) => setTimeout(r, options.intervalMs ?? 500));
    }
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await requestJson(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}` },
      ...(body === undefined ? {} : { body }),
      timeoutMs: this.options.timeoutMs ?? 60_000,
    });
    if (answer.kind === 'unreachable') throw new MycelError('NODE_UNREACHABLE', { url: this.base, reason: answer.reason });
    if (answer.status >= 200 && answer.status < 300 && answer.json !== undefined) return answer.json as T;
    throw errorFromAnswer(answer.status, answer.json, { url: this.base, method, path });
  }
}
