/**
 * Starts the servers a realtime benchmark compares, each as one child process with a control
 * channel (control.ts): Mycel (`mycel serve` with a temp data dir, an API key and a YAML
 * config), Socket.IO 4.8 and a bare `ws` broadcast loop.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { NamespaceOptions } from '../../src/config/schema.js';
import { ROOT, exitRejection, removeTempDir, startNodeChild, stopChild, tempDir } from './children.js';
import { onEvent, request } from './ipc.js';
import type { ServerMemory } from './control.js';

export type ServerKind = 'mycel' | 'socketio' | 'ws';

/** Mycel's namespace options for a like-for-like broadcast: no history, presence, recovery, join/leave. */
export const MYCEL_BARE: Partial<NamespaceOptions> = { historySize: 0, presenceEnabled: false, recovery: false, joinLeave: false };
/** Mycel's defaults (history 100, presence on, recovery on): the schema decides, nothing set. */
export const MYCEL_DEFAULTS: Partial<NamespaceOptions> = {};

export interface ServerSpec {
  kind: ServerKind;
  /** Row label in the report. */
  label: string;
  /** Mycel only: options of the default namespace (the benchmarks' channels have no `:`). */
  mycelChannel?: Partial<NamespaceOptions>;
}

export interface RunningServer {
  spec: ServerSpec;
  child: ChildProcess;
  pid: number;
  /** What the clients connect to: ws://…/connection/websocket (Mycel), http://… (Socket.IO), ws://… (ws). */
  url: string;
  memory(gc: boolean): Promise<ServerMemory>;
  /** Starts the V8 CPU profiler in the server process. */
  profileStart(): Promise<void>;
  /** Stops it and writes the profile to `file`. */
  profileStop(file: string): Promise<void>;
  /** Writes a V8 heap snapshot (after a full GC) to `file`. */
  heapSnapshot(file: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartServerOptions {
  apiKey: string;
  /** Extra node flags for the server process. */
  nodeFlags?: string[];
  timeoutMs?: number;
}

function mycelConfig(spec: ServerSpec, apiKey: string, dataDir: string): string {
  return stringify({
    node: { name: 'bench', dataDir },
    owner: { password: 'bench-owner-password' },
    // info: the "listening" line is how the coordinator learns the port.
    log: { level: 'info' },
    realtime: {
      apiKey,
      // The publisher sends far more than the default 100 commands/s; the peers have no such limit.
      maxCommandsPerSecond: 1_000_000,
      channel: { publish: 'user', subscribe: 'user', ...spec.mycelChannel },
    },
  });
}

function waitListeningLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`mycel serve did not log "listening" within ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const line of lines) {
        if (!line.includes('"msg":"listening"')) continue;
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
  });
}

/** Starts one server process and resolves once it accepts connections. */
export async function startServer(spec: ServerSpec, options: StartServerOptions): Promise<RunningServer> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const nodeFlags = ['--expose-gc', ...(options.nodeFlags ?? [])];
  let child: ChildProcess;
  let url: Promise<string>;
  let dir: string | undefined;
  if (spec.kind === 'mycel') {
    dir = tempDir('mycel-bench-');
    const configFile = join(dir, 'mycel.yaml');
    writeFileSync(configFile, mycelConfig(spec, options.apiKey, join(dir, 'data')));
    child = startNodeChild(join(ROOT, 'bench/_lib/mycel-server.ts'), ['--config', configFile, 'serve', '--port', '0', '--host', '127.0.0.1'], {
      nodeFlags,
      raiseFdLimit: true,
      stdout: 'pipe',
      // Only what the config file says: no MYCEL_* from the developer's shell.
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MYCEL_'))), BENCH_TEMP_DIR: dir },
    });
    url = waitListeningLine(child, timeoutMs).then((u) => `${u.replace(/^http/, 'ws')}/connection/websocket`);
  } else {
    const script = spec.kind === 'ws' ? 'bench/_lib/ws-peer-server.ts' : 'bench/_lib/socketio-peer-server.ts';
    child = startNodeChild(join(ROOT, script), [], { nodeFlags, raiseFdLimit: true, env: { ...process.env, BENCH_API_KEY: options.apiKey } });
    url = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${spec.label} did not listen within ${timeoutMs} ms`)), timeoutMs);
      onEvent(child, 'listening', (body) => {
        clearTimeout(timer);
        resolve((body as { url: string }).url);
      });
    });
  }
  const cleanupDir = (): void => {
    if (dir) removeTempDir(dir);
  };
  let resolvedUrl: string;
  try {
    resolvedUrl = await Promise.race([url, exitRejection(child, spec.label)]);
  } catch (err) {
    await stopChild(child);
    cleanupDir();
    throw err;
  }
  // Mycel logs JSON lines on stdout; keep draining them so the pipe never blocks the server.
  child.stdout?.resume();
  return {
    spec,
    child,
    pid: child.pid!,
    url: resolvedUrl,
    memory: (gc) => request<ServerMemory>(child, 'mem', { gc }, 30_000),
    profileStart: () => request<void>(child, 'profileStart'),
    profileStop: (file) => request<void>(child, 'profileStop', { file }, 60_000),
    heapSnapshot: (file) => request<void>(child, 'heapSnapshot', { file }, 120_000),
    async stop() {
      await stopChild(child, 15_000);
      cleanupDir();
    },
  };
}
