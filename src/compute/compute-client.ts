/**
 * The compute client's loop (compute.mode client or standalone; docs/compute.md "Running a
 * client"). It only makes outgoing requests to its aggregation node; nothing reaches it from
 * outside.
 *
 *   first start: an Ed25519 key pair is made and kept in the data dir (compute-client.json,
 *                mode 0600); the client joins compute.join.url with compute.join.invitation,
 *                its binding proofs and its datasources' schemas (describeDatasource); the
 *                client id and the projects each datasource is bound to join the same file.
 *   later starts: the file is read; no invitation is needed. When compute.join.url names
 *                another node than the last one, the client asks it (GET /api/v1/compute/client,
 *                signed) whether it knows this client (another node of the same network does:
 *                it relays to the jobs' origin) and moves there; otherwise it joins it.
 *   then:        long polls (POST /api/v1/compute/poll, signed); each task runs in the
 *                TaskRunner (worker thread, time limit) on its datasource, after checking the
 *                task's project is one the datasource is bound to; the output or the typed
 *                error goes back (signed). Connection errors back off (exponential, jittered).
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MycelError } from '../errors.js';
import { bindingProof } from '../lib/binding-proof.js';
import { createComputeKeyPair, signatureHeaders, signRequest, type ComputeKeyPair } from '../lib/signed-request.js';
import type { Logger } from '../log.js';
import { taskErrorValue } from './compute-service.js';
import { describeDatasource, type DatasourceSpec } from './datasource.js';
import { TaskRunner } from './run-task.js';

export const CLIENT_STATE_FILE = 'compute-client.json';

/** What the client keeps in its data dir (0600): its keys, and once joined, its id and bindings. */
export interface ClientState {
  keys: ComputeKeyPair;
  /** The node it joined (its base URL). */
  url?: string;
  clientId?: string;
  /** Per datasource, the projects the node bound it to. */
  bindings?: Record<string, string[]>;
}

export interface ComputeClientOptions {
  /** Base URL of the aggregation node (compute.join.url). */
  url: string;
  dataDir: string;
  /** compute.join.invitation; needed on the first start only. */
  invitation?: string | undefined;
  name: string;
  datasources: readonly DatasourceSpec[];
  /** The node's long poll waits up to this (compute.heartbeatSeconds); our request waits a little longer. */
  heartbeatSeconds: number;
  log: Logger;
  /** Time limit of one task (default 10 minutes). */
  taskTimeoutMs?: number;
  /** First and largest backoff after a connection error (default 500 ms and 30 s). */
  backoffMs?: { first: number; max: number };
}

/** Reads the client's state, or makes a key pair and keeps it (0600) when there is none. */
export async function loadClientState(dataDir: string): Promise<ClientState> {
  const path = join(dataDir, CLIENT_STATE_FILE);
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ClientState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const state: ClientState = { keys: createComputeKeyPair() };
  await saveClientState(dataDir, state);
  return state;
}

async function saveClientState(dataDir: string, state: ClientState): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, CLIENT_STATE_FILE);
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

interface LeasedTaskBody {
  task: { id: string; jobId: string; round: number; datasource: string; input: unknown };
  leaseId: string;
  /** The lease length (absent from a node that does not renew leases). */
  leaseSeconds?: number;
  project: string;
}

/** An answer of the node that is a typed refusal (not a connection problem): no retry helps. */
class NodeRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class ComputeClientLoop {
  private readonly abort = new AbortController();
  private readonly runner = new TaskRunner();
  private running: Promise<void> | undefined;
  private state: ClientState | undefined;

  constructor(private readonly options: ComputeClientOptions) {}

  /** Loads or makes the keys, joins when not joined yet (typed errors: a bad invitation stops the start), then polls in the background. */
  async start(): Promise<void> {
    this.state = await loadClientState(this.options.dataDir);
    if (!this.state.clientId) await this.joinWithBackoff();
    else if (this.state.url !== this.options.url) await this.moveWithBackoff();
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running?.catch(() => undefined);
    await this.runner.close();
  }

  get clientId(): string | undefined {
    return this.state?.clientId;
  }

  private async joinWithBackoff(): Promise<void> {
    const { invitation } = this.options;
    if (!invitation) throw new MycelError('CONFIG_INVALID', { key: 'compute.join.invitation' }, 'compute.join.invitation is needed for the first start of a compute client (it has not joined yet)');
    const state = this.state!;
    const datasources = [];
    for (const spec of this.options.datasources) {
      // The schema is shown to the bound projects; a file that cannot be read yet joins without it.
      const schema = await describeDatasource(spec, { threads: 1 }).then(
        (d) => ({ columns: d.columns, rows: d.rows }),
        (err: unknown) => {
          this.options.log.warn({ datasource: spec.name, err: taskErrorValue(err) }, 'compute datasource cannot be described; joining without its schema');
          return undefined;
        },
      );
      datasources.push({ name: spec.name, type: spec.type, proofs: spec.tokens.map((t) => bindingProof(t, state.keys.publicKey, spec.name)), ...(schema ? { schema } : {}) });
    }
    const body = JSON.stringify({ invitation, name: this.options.name, publicKey: state.keys.publicKey, datasources });
    for (let attempt = 0; ; attempt++) {
      try {
        const answer = (await this.request('/api/v1/compute/join', body, false)) as { clientId: string; datasources: Array<{ name: string; projects: string[] }> };
        state.clientId = answer.clientId;
        state.url = this.options.url;
        state.bindings = Object.fromEntries(answer.datasources.map((d) => [d.name, d.projects]));
        await saveClientState(this.options.dataDir, state);
        this.options.log.info({ clientId: answer.clientId, bindings: state.bindings }, 'compute client joined');
        return;
      } catch (err) {
        if (err instanceof NodeRefusal) throw new MycelError('COMPUTE_JOIN_FAILED', { status: err.status, code: err.code }, `joining ${this.options.url} was refused: ${err.code}: ${err.message}`);
        if (this.abort.signal.aborted) throw err;
        await this.backoff(attempt, err);
      }
    }
  }

  /**
   * compute.join.url names another node than the one the client last used: another node of the
   * same network knows it (its registration is replicated there, and that node relays its
   * operations to the jobs' origin), so it keeps its registration and moves; a node that does
   * not know it (SIGNATURE_INVALID) is joined anew, with an invitation.
   */
  private async moveWithBackoff(): Promise<void> {
    const state = this.state!;
    for (let attempt = 0; ; attempt++) {
      try {
        const self = (await this.request('/api/v1/compute/client', '', true, 'GET')) as { clientId: string; originNodeId: string; datasources: Array<{ name: string; projects: string[] }> };
        state.url = this.options.url;
        state.bindings = Object.fromEntries(self.datasources.map((d) => [d.name, d.projects]));
        await saveClientState(this.options.dataDir, state);
        this.options.log.info({ clientId: state.clientId, url: this.options.url, originNodeId: self.originNodeId }, 'compute client: the node at compute.join.url knows this client; it polls there now');
        return;
      } catch (err) {
        if (err instanceof NodeRefusal && err.code === 'SIGNATURE_INVALID') {
          this.options.log.info({ url: this.options.url }, 'compute client: the node at compute.join.url does not know this client; joining it');
          await this.joinWithBackoff();
          return;
        }
        if (err instanceof NodeRefusal) throw new MycelError('COMPUTE_JOIN_FAILED', { status: err.status, code: err.code }, `${this.options.url} refused this client: ${err.code}: ${err.message}`);
        if (this.abort.signal.aborted) throw err;
        await this.backoff(attempt, err);
      }
    }
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.abort.signal.aborted) {
      try {
        const leased = (await this.request('/api/v1/compute/poll', '{}', true)) as LeasedTaskBody | null;
        failures = 0;
        if (leased) await this.runOne(leased);
      } catch (err) {
        if (this.abort.signal.aborted) return;
        await this.backoff(failures++, err);
      }
    }
  }

  /** Runs one task and reports it; a refusal of the report (lease lost) is logged, not retried. */
  private async runOne(leased: LeasedTaskBody): Promise<void> {
    const { task, leaseId, project } = leased;
    const spec = this.options.datasources.find((d) => d.name === task.datasource);
    let report: { path: string; body: string };
    try {
      // A client never runs a task for a project its datasource is not bound to.
      if (!spec) throw new MycelError('DATASOURCE_UNREADABLE', { reason: 'missing', datasource: task.datasource }, `this client has no datasource "${task.datasource}"`);
      if (!(this.state!.bindings?.[spec.name] ?? []).includes(project)) {
        throw new MycelError('COMPUTE_BINDING_INVALID', { datasource: spec.name, project }, `datasource "${spec.name}" is not bound to project "${project}" on this client`);
      }
      // One line per task: an operator (and the SIGKILL e2e test) sees which task a client is in.
      this.options.log.info({ taskId: task.id, jobId: task.jobId, round: task.round }, 'compute task started');
      const renewal = this.renewWhileRunning(task.id, leaseId, leased.leaseSeconds);
      let output: unknown;
      try {
        output = await this.runner.run(task.input, spec, { timeoutMs: this.options.taskTimeoutMs ?? 600_000 });
      } finally {
        renewal.stop();
      }
      report = { path: `/api/v1/compute/tasks/${encodeURIComponent(task.id)}/result`, body: JSON.stringify({ leaseId, output }) };
    } catch (err) {
      const error = taskErrorValue(err);
      this.options.log.warn({ taskId: task.id, jobId: task.jobId, code: error.code }, 'compute task failed');
      report = { path: `/api/v1/compute/tasks/${encodeURIComponent(task.id)}/failure`, body: JSON.stringify({ leaseId, error }) };
    }
    for (let attempt = 0; !this.abort.signal.aborted; attempt++) {
      try {
        await this.request(report.path, report.body, true);
        return;
      } catch (err) {
        if (err instanceof NodeRefusal) {
          this.options.log.warn({ taskId: task.id, code: err.code }, 'compute task report refused');
          return;
        }
        await this.backoff(attempt, err);
      }
    }
  }

  /**
   * Renews the task's lease every third of its length while the task runs, so a task longer
   * than a lease stays this client's. A refusal (the lease expired meanwhile, or the job ended)
   * stops the renewals: the report will be refused too. A node that cannot be reached is tried
   * again at the next turn.
   */
  private renewWhileRunning(taskId: string, leaseId: string, leaseSeconds: number | undefined): { stop(): void } {
    if (!leaseSeconds) return { stop: () => undefined };
    const path = `/api/v1/compute/tasks/${encodeURIComponent(taskId)}/lease`;
    const body = JSON.stringify({ leaseId });
    let inFlight = false;
    const timer = setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      this.request(path, body, true)
        .catch((err: unknown) => {
          if (err instanceof NodeRefusal) {
            clearInterval(timer);
            this.options.log.warn({ taskId, code: err.code }, 'compute lease renewal refused');
          } else if (!this.abort.signal.aborted) {
            this.options.log.warn({ taskId, err: err instanceof Error ? err.message : String(err) }, 'compute lease renewal failed; trying again');
          }
        })
        .finally(() => (inFlight = false));
    }, Math.max(1000, (leaseSeconds * 1000) / 3));
    return { stop: () => clearInterval(timer) };
  }

  /** POSTs `body` (or GETs, body empty; signed when `signed`); the JSON answer, null for 204; NodeRefusal for a typed error answer. */
  private async request(path: string, body: string, signed: boolean, method: 'POST' | 'GET' = 'POST'): Promise<unknown> {
    const headers: Record<string, string> = method === 'POST' ? { 'content-type': 'application/json' } : {};
    if (signed) {
      const values = signRequest(this.state!.keys.privateKey, { method, path, body, clientId: this.state!.clientId! }, Date.now());
      Object.assign(headers, signatureHeaders(values));
    }
    const timeout = AbortSignal.timeout(this.options.heartbeatSeconds * 1000 + 30_000);
    const response = await fetch(new URL(path, this.options.url), { method, headers, ...(method === 'POST' ? { body } : {}), signal: AbortSignal.any([this.abort.signal, timeout]) });
    if (response.status === 204) return null;
    const text = await response.text();
    if (response.ok) return JSON.parse(text) as unknown;
    let code = `HTTP_${response.status}`;
    let message = text.slice(0, 200);
    try {
      const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
      code = parsed.error?.code ?? code;
      message = parsed.error?.message ?? message;
    } catch {
      // not JSON: keep the status
    }
    // 5xx (a node restarting, a proxy) is retried like a connection error; 4xx is a refusal.
    if (response.status >= 500) throw new Error(`${code}: ${message}`);
    throw new NodeRefusal(response.status, code, message);
  }

  private async backoff(attempt: number, err: unknown): Promise<void> {
    const { first, max } = this.options.backoffMs ?? { first: 500, max: 30_000 };
    const ceiling = Math.min(max, first * 2 ** Math.min(attempt, 20));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.options.log.warn({ err: err instanceof Error ? err.message : String(err), retryInMs: Math.round(delay) }, 'compute client: node unreachable, backing off');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      this.abort.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}
