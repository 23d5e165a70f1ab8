/**
 * Runs tasks off the event loop, in a worker thread (`task-worker.ts`) that checks the input,
 * reads the datasource with DuckDB and runs the round.
 *
 *   const runner = new TaskRunner();                 // one worker thread, started on first use
 *   const output = await runner.run(input, source, { timeoutMs: 60_000 });
 *   await runner.close();
 *
 *   await runTask(input, source, { timeoutMs })       // the same with a runner of its own
 *
 * A runner runs one task at a time (later calls wait their turn) and keeps its thread between
 * tasks, so a job of many rounds pays the thread's start-up once. Errors cross the thread as
 * MycelErrors with their code, message and details. Past `timeoutMs` the thread is terminated
 * (the task's DuckDB database with it) and the call rejects with TASK_TIMEOUT; the next task
 * starts a fresh thread. A thread that dies without an answer rejects with TASK_FAILED.
 *
 * The thread keeps, between tasks, the column types of the files it read and the training
 * data of the last FedAvg task, each tied to the file's size and modification time
 * (task-worker.ts): a job's later rounds do not read the file again. `reads` counts how the
 * tasks read their data.
 */
import type { Worker } from 'node:worker_threads';
import { startWorkerModule } from '../lib/worker-thread.js';
import { ERROR_CODES, MycelError, type ErrorCode } from '../errors.js';
import type { DatasourceSpec } from './datasource.js';
import type { TaskOutput } from './task.js';
import type { TaskRead, TaskRequest, TaskWorkerReply } from './task-worker.js';

export interface RunTaskOptions {
  timeoutMs: number;
  /** DuckDB's threads for this task (default: one per core). */
  threads?: number;
}

/** The task thread: task-worker.ts (or .js once compiled). */
function startWorker(): Worker {
  return startWorkerModule(import.meta.url, 'task-worker');
}

function errorFrom(reply: Extract<TaskWorkerReply, { ok: false }>): MycelError {
  const code = (reply.error.code in ERROR_CODES ? reply.error.code : 'TASK_FAILED') as ErrorCode;
  return new MycelError(code, reply.error.details, reply.error.message);
}

export class TaskRunner {
  private worker: Worker | undefined;
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Tasks that ran on training data kept from an earlier task, on a file read with kept column types, or on a sniffed file. */
  readonly reads: Record<TaskRead, number> = { kept: 0, typed: 0, sniffed: 0 };

  /** The task's output, computed in the runner's thread within `timeoutMs`. `input` is checked in the thread (parseTaskInput). */
  run(input: unknown, source: DatasourceSpec, options: RunTaskOptions): Promise<TaskOutput> {
    const turn = this.queue.then(() => this.runNow(input, source, options));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Terminates the thread; tasks asked for afterwards are refused. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private runNow(input: unknown, source: DatasourceSpec, options: RunTaskOptions): Promise<TaskOutput> {
    if (this.closed) return Promise.reject(new MycelError('SHUTTING_DOWN'));
    const worker = (this.worker ??= startWorker());
    const request: TaskRequest = { id: this.nextId++, input, source, ...(options.threads === undefined ? {} : { threads: options.threads }) };
    return new Promise<TaskOutput>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const drop = (): void => {
        if (this.worker === worker) this.worker = undefined;
        void worker.terminate();
      };
      const onMessage = (message: { id: number; reply: TaskWorkerReply }): void => {
        if (message.id !== request.id) return;
        done();
        if (message.reply.ok) {
          this.reads[message.reply.read]++;
          resolve(message.reply.output as TaskOutput);
        }
        else reject(errorFrom(message.reply));
      };
      const onError = (): void => {
        done();
        drop();
        reject(new MycelError('TASK_FAILED'));
      };
      const onExit = (code: number): void => {
        done();
        if (this.worker === worker) this.worker = undefined;
        reject(new MycelError('TASK_FAILED', { exitCode: code }));
      };
      const timer = setTimeout(() => {
        done();
        drop();
        reject(new MycelError('TASK_TIMEOUT', { timeoutMs: options.timeoutMs }));
      }, options.timeoutMs);
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.once('exit', onExit);
      worker.postMessage(request);
    });
  }
}

/** One task in a thread of its own, within `timeoutMs` (see TaskRunner). */
export async function runTask(input: unknown, source: DatasourceSpec, options: RunTaskOptions): Promise<TaskOutput> {
  const runner = new TaskRunner();
  try {
    return await runner.run(input, source, options);
  } finally {
    await runner.close();
  }
}
