import { Worker } from 'node:worker_threads';

/** What the main thread asks of the hash thread. `memory` is shared: nothing is copied. */
export type HashRequest =
  | { kind: 'update'; job: number; seq: number; memory: SharedArrayBuffer; offset: number; length: number; sha1: boolean }
  | { kind: 'digest'; job: number; seq: number }
  | { kind: 'drop'; job: number; seq: number };

/** `sha1` is empty for a job without it. */
export type HashReply = { job: number; seq: number; digests?: { sha256: string; sha1: string }; error?: string };

interface Pending {
  resolve: (reply: HashReply) => void;
  reject: (error: Error) => void;
}

/**
 * One thread per process that hashes large uploads (sha256 + sha1) while the main thread goes on
 * receiving them: on a server with a core to spare the hashing, the largest cost of a store, no
 * longer holds up the event loop (bench/blobs.ts). The thread starts on first use, is restarted
 * after a failure (whose jobs fail), and keeps the process alive only while a job waits on it.
 */
class HashThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<string, Pending>();
  private nextJob = 1;
  private nextSeq = 1;

  /** Starts the thread now rather than at the first large transfer (a server that stores blobs
   *  pays its ~9 MB at start, not in the middle of an upload). */
  warm(): void {
    this.start();
  }

  newJob(): number {
    return this.nextJob++;
  }

  /** Hashes `length` bytes of `memory` from `offset` into `job` (sha256, and sha1 unless the job
   *  is a reader's check); resolves when the bytes may be reused. Updates of a job run in order. */
  async update(job: number, memory: SharedArrayBuffer, offset: number, length: number, sha1 = true): Promise<void> {
    await this.ask({ kind: 'update', job, seq: this.nextSeq++, memory, offset, length, sha1 });
  }

  /** The job's digests; the job is gone afterwards. */
  async digest(job: number): Promise<{ sha256: string; sha1: string }> {
    return (await this.ask({ kind: 'digest', job, seq: this.nextSeq++ })).digests!;
  }

  /** Forgets an abandoned job. */
  drop(job: number): void {
    this.worker?.postMessage({ kind: 'drop', job, seq: this.nextSeq++ } satisfies HashRequest);
  }

  private ask(request: HashRequest): Promise<HashReply> {
    const worker = this.start();
    return new Promise<HashReply>((resolve, reject) => {
      this.pending.set(`${request.job}:${request.seq}`, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage(request);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // No flags of the process: the code is CommonJS whatever the process runs (--input-type),
    // and needs no loader (--import).
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    worker.on('message', (reply: HashReply) => {
      const key = `${reply.job}:${reply.seq}`;
      const waiting = this.pending.get(key);
      if (!waiting) return;
      this.pending.delete(key);
      if (this.pending.size === 0) worker.unref();
      if (reply.error !== undefined) waiting.reject(new Error(`hash thread: ${reply.error}`));
      else waiting.resolve(reply);
    });
    const fail = (error: Error): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const waiting = [...this.pending.values()];
      this.pending.clear();
      for (const p of waiting) p.reject(error);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`hash thread exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the thread's port again.
    if (this.pending.size === 0) worker.unref();
    this.worker = worker;
    return worker;
  }
}

/**
 * The thread's code: sha256 (and sha1) per job over the shared memory it is handed a piece at a time,
 * in order. Plain JavaScript in a string, so the thread loads no module (under tsx a worker
 * module would load the TypeScript loader too, three times the thread's own ~9 MB).
 */
const WORKER_SOURCE = `
const { createHash } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
const jobs = new Map();
const fresh = (sha1) => ({ sha256: createHash('sha256'), sha1: sha1 ? createHash('sha1') : null });
parentPort.on('message', (request) => {
  if (request.kind === 'drop') { jobs.delete(request.job); return; }
  let reply;
  try {
    let job = jobs.get(request.job);
    if (request.kind === 'update') {
      if (!job) jobs.set(request.job, (job = fresh(request.sha1)));
      const bytes = new Uint8Array(request.memory, request.offset, request.length);
      job.sha256.update(bytes);
      job.sha1?.update(bytes);
      reply = { job: request.job, seq: request.seq };
    } else {
      jobs.delete(request.job);
      job ??= fresh(true);
      reply = { job: request.job, seq: request.seq, digests: { sha256: job.sha256.digest('hex'), sha1: job.sha1 ? job.sha1.digest('hex') : '' } };
    }
  } catch (err) {
    reply = { job: request.job, seq: request.seq, error: String(err && err.message || err) };
  }
  parentPort.postMessage(reply);
});
`;

/** The process's hash thread. */
export const hashThread = new HashThread();
