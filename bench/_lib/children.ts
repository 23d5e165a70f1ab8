/**
 * Child processes and temp dirs of a benchmark, cleaned up on every exit path: normal end,
 * a thrown error, Ctrl-C / SIGTERM. Children started here also exit by themselves when their
 * IPC channel to this process closes (see control.ts), so a SIGKILLed coordinator leaves
 * nothing running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const children = new Set<ChildProcess>();
const dirs = new Set<string>();

function killAllNow(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

let installed = false;
/** Installs the exit/signal handlers once. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      console.error(`\n${sig}: stopping children and removing temp dirs`);
      killAllNow();
      process.exit(130);
    });
  }
}

/** A temp dir removed on exit (or earlier with removeTempDir). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  dirs.delete(d);
}

export interface NodeChildOptions {
  /** Extra node flags (e.g. --expose-gc, --cpu-prof). */
  nodeFlags?: string[];
  /** The child's whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Raise the soft open-files limit to the hard one (many sockets). */
  raiseFdLimit?: boolean;
  /** Where stdout goes; 'pipe' lets the caller read it. */
  stdout?: 'pipe' | 'inherit' | 'ignore';
}

/**
 * Starts `node --import tsx <script> ...args` with an IPC channel. With raiseFdLimit it goes
 * through `sh -c 'ulimit -n <hard>; exec node …'`: exec keeps the pid and the IPC fd.
 */
export function startNodeChild(script: string, args: string[], options: NodeChildOptions = {}): ChildProcess {
  const nodeArgs = [...(options.nodeFlags ?? []), '--import', 'tsx', script, ...args];
  const stdio: ['ignore', 'pipe' | 'inherit' | 'ignore', 'inherit', 'ipc'] = ['ignore', options.stdout ?? 'inherit', 'inherit', 'ipc'];
  const env = options.env ?? process.env;
  const child = options.raiseFdLimit
    ? spawn('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', process.execPath, ...nodeArgs], { cwd: ROOT, env, stdio })
    : spawn(process.execPath, nodeArgs, { cwd: ROOT, env, stdio });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after timeoutMs; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}

/** Rejects when the child exits (for racing against a phase that needs it alive). */
export function exitRejection(child: ChildProcess, what: string): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`${what} exited (code ${code}, signal ${signal})`)));
  });
}
