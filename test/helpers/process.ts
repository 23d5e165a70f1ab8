import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));

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

/** Runs `mycel <args>` to completion (bounded by timeoutMs); `input`, if given, is its stdin. */
export async function runMycel(args: string[], env: Record<string, string>, timeoutMs = 30_000, input?: string): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    cwd: root,
    env: cleanEnv(env),
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin!.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

export interface ServingNode {
  child: ChildProcess;
  url: string;
  /** Every stdout line so far (JSON log lines). */
  lines: string[];
  /** Sends a signal and waits for the exit; SIGKILLs after timeoutMs. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `mycel serve --port 0` and waits for its "listening" log line. */
export async function startMycel(env: Record<string, string>, args: string[] = [], timeoutMs = 30_000): Promise<ServingNode> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--port', '0', ...args], {
    cwd: root,
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
