/**
 * The control channel every benchmarked server process gets (Mycel, Socket.IO, ws): the
 * coordinator asks it for its memory (optionally after a full GC; servers run with
 * --expose-gc) and CPU time. It only answers requests, so it costs nothing while measuring.
 */
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
      ...extra,
    },
    {},
    false,
  );
}
