import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));
/** The built CLI (`npm run build`), as `npm start` and the package run it. */
export const distCli = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url));
/** tsx's loader by absolute URL, so a CLI started in another working directory still finds it. */
const tsx = import.meta.resolve('tsx');

/** The argv that runs the CLI from source (`spawn(argv[0], [...argv.slice(1), ...args])`), for tests that handle its streams themselves. */
export function mycelArgv(): string[] {
  return [process.execPath, '--import', 'tsx', cli];
}

/** An environment without the developer's own MYCEL_* settings, plus `env`. */
export function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MYCEL_') && k !== 'NODE_TEST_CONTEXT'));
  return { ...base, MYCEL_LOG_LEVEL: 'info', ...env };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ProcessRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs `bin args` to its end (SIGKILL after timeoutMs) and returns everything it printed. Waits
 * for 'close', not 'exit': at 'exit' the pipes may still hold output not yet read (a CI run lost
 * a "Permission denied" that way), and a process that left children writing to them is not done.
 */
export async function runProcess(bin: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string }): Promise<ProcessRun> {
  const child = spawn(bin, args, { cwd: opts.cwd ?? root, env: opts.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  const chunks: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => chunks.push(d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout: Buffer.concat(chunks), stderr };
}

/** Runs `mycel <args>` to completion (bounded by timeoutMs); `input`, if given, is its stdin. */
export async function runMycel(args: string[], env: Record<string, string>, timeoutMs = 30_000, input?: string): Promise<CliResult> {
  const [bin, ...pre] = mycelArgv();
  const run = await runProcess(bin!, [...pre, ...args], { env: cleanEnv(env), timeoutMs, input });
  return { ...run, stdout: run.stdout.toString() };
}

export interface ServingNode {
  child: ChildProcess;
  url: string;
  /** Every stdout line so far (JSON log lines). */
  lines: string[];
  /** Sends a signal and waits for the exit; SIGKILLs after timeoutMs. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `mycel serve --port 0` and waits for its "listening" log line (up to a minute: several
 * nodes starting at once under tsx on a loaded 2-core machine took over 30 s); `nodeArgs` go to node
 * (benchmarks: --cpu-prof); `cwd` is its working directory (relative paths in a config start there);
 * `from` runs the TypeScript sources under tsx (tests) or the build in dist/ (benchmarks).
 */
export async function startMycel(env: Record<string, string>, args: string[] = [], timeoutMs = 60_000, nodeArgs: string[] = [], cwd = root, from: 'sources' | 'dist' = 'sources'): Promise<ServingNode> {
  const entry = from === 'dist' ? [distCli] : ['--import', tsx, cli];
  const child = spawn(process.execPath, [...nodeArgs, ...entry, 'serve', '--port', '0', ...args], {
    cwd,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      // Not listening is a failed start: the caller gets no handle to stop it with, so end it here.
      child.kill('SIGKILL');
      reject(new Error(`mycel serve did not start in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (line.includes('"msg":"listening"')) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { url: string }).url);
        }
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`mycel serve exited with ${code} before listening\n${stderr}`));
    });
  });
  return {
    child,
    url,
    lines,
    async stop(signal = 'SIGTERM', stopTimeoutMs = 15_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      const [code, sig] = await exited;
      clearTimeout(timer);
      return { code, signal: sig };
    },
  };
}
