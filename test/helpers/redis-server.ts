/**
 * A private `redis-server` for tests that must kill or restart Redis (never the shared one on
 * TEST_REDIS_URL): on 127.0.0.1, without persistence, so a restart comes back empty.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

const REDIS_SERVER = '/usr/bin/redis-server';
const START_TIMEOUT_MS = 10_000;

/** A free TCP port on 127.0.0.1 (closed again; the caller binds it soon after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export class RedisServer {
  child: ChildProcess | undefined;
  readonly port: number;
  readonly password: string | undefined;

  private constructor(port: number, password: string | undefined) {
    this.port = port;
    this.password = password;
  }

  get url(): string {
    return this.password === undefined ? `redis://127.0.0.1:${this.port}` : `redis://:${this.password}@127.0.0.1:${this.port}`;
  }

  /** Starts a redis-server on `port` (default: a free one), optionally with a password; resolves once it accepts connections. */
  static async start(port?: number, options: { password?: string } = {}): Promise<RedisServer> {
    const r = new RedisServer(port ?? (await freePort()), options.password);
    await r.restart();
    return r;
  }

  /** SIGSTOP: the process keeps its sockets (connections and the listening backlog) but answers nothing. */
  pause(): void {
    if (!this.child?.kill('SIGSTOP')) throw new Error('redis-server is not running');
  }

  /** SIGCONT after pause(): it reads what was sent meanwhile and goes on. */
  resume(): void {
    if (!this.child?.kill('SIGCONT')) throw new Error('redis-server is not running');
  }

  /** Starts the server (again) on its port; resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is running');
    const auth = this.password === undefined ? [] : ['--requirepass', this.password];
    const child = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...auth], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let output = '';
    const onOutput = (chunk: Buffer): void => {
      output += chunk.toString();
    };
    let timer: NodeJS.Timeout | undefined;
    let onExit: ((code: number | null) => void) | undefined;
    let onReady: (() => void) | undefined;
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`redis-server did not start in ${START_TIMEOUT_MS / 1000} s:\n${output}`)), START_TIMEOUT_MS);
        onReady = () => {
          if (output.includes('Ready to accept connections')) resolve();
        };
        onExit = (code) => reject(new Error(`redis-server exited with ${code}:\n${output}`));
        child.stdout!.on('data', onReady);
        child.once('exit', onExit);
      });
    } catch (err) {
      await this.kill();
      throw err;
    } finally {
      clearTimeout(timer);
      if (onExit) child.off('exit', onExit);
      if (onReady) child.stdout!.off('data', onReady);
      child.stdout!.off('data', onOutput);
      child.stderr!.off('data', onOutput);
      // Keep draining its output so a full pipe never blocks it.
      child.stdout!.resume();
      child.stderr!.resume();
    }
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}
