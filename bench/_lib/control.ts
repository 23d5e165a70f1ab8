/**
 * The control channel every benchmarked server process gets (Mycel, Socket.IO, ws): the
 * coordinator asks it for its memory (optionally after a full GC; servers run with
 * --expose-gc) and CPU time, and can profile one phase with the V8 profiler (node:inspector).
 * It only answers requests, so it costs nothing while measuring.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { writeHeapSnapshot } from 'node:v8';
import { serveIpc, type Handler } from './ipc.js';

export interface ServerMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('start the server with --expose-gc to measure memory after GC');
  // Twice: the first pass can leave objects whose finalizers free more on the second.
  gc();
  gc();
}

let inspector: Session | undefined;

function post(method: string, params: object = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    inspector!.post(method, params, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/** Starts the V8 CPU profiler in this process (profiles exactly one benchmark phase). */
async function profileStart(): Promise<void> {
  inspector ??= new Session();
  inspector.connect();
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 1000 });
  await post('Profiler.start');
}

/** Stops the profiler and writes the .cpuprofile (readable by Chrome DevTools and cpuprofile-top.ts). */
async function profileStop(body: { file: string }): Promise<void> {
  const { profile } = (await post('Profiler.stop')) as { profile: unknown };
  await post('Profiler.disable');
  inspector!.disconnect();
  writeFileSync(body.file, JSON.stringify(profile));
}

/** Installs the control handlers; `extra` adds server-specific ones. */
export function installServerControl(extra: Record<string, Handler> = {}): void {
  serveIpc(
    {
      mem: (body: { gc?: boolean }): ServerMemory => {
        if (body.gc) collect();
        const m = process.memoryUsage();
        return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
      },
      cpu: () => process.cpuUsage(),
      profileStart: () => profileStart(),
      profileStop: (body: { file: string }) => profileStop(body),
      heapSnapshot: (body: { file: string }) => {
        collect();
        writeHeapSnapshot(body.file);
      },
      ...extra,
    },
    {},
    false,
  );
}
