import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { Logger } from '../../log.js';
import { MycelError } from '../../errors.js';
import { RedisHealth } from './redis-health.js';

/** Options shared by the Redis bus and presence store. */
export interface RedisBackendOptions {
  url: string;
  /** Prefix of every key and pub/sub channel, so several nodes (or tests) share one Redis. */
  prefix?: string;
  /** A command without a reply after this long rejects (bounds calls while Redis hangs). */
  commandTimeoutMs?: number;
  /** How long the first calls wait for the first connection. */
  connectTimeoutMs?: number;
  /** Upper bound of the exponential reconnect delay. */
  maxReconnectDelayMs?: number;
  /** Interval of the PING that detects a silently dead pub/sub connection (0: off). */
  pingIntervalMs?: number;
  logger?: Logger;
  /**
   * Shared by the connections of one instance (backends.ts), so an outage is logged once and
   * /readyz sees every connection. Without it, each connection keeps its own.
   */
  health?: RedisHealth;
}

export const DEFAULT_PREFIX = 'mycel';

/** Counters for metrics: connection errors (each failed reconnect attempt counts) and reconnects. */
export interface RedisConnectionStats {
  errors: number;
  reconnects: number;
}

interface Hooks {
  /** Runs on every (re)connection before the connection counts as up (e.g. SUBSCRIBE). */
  setup?: () => Promise<void>;
  /** Called after a connection that had been up is up again. */
  onReconnect?: () => void;
  /** Read Redis's clock on every (re)connection and every CLOCK_RESYNC_MS, for `redisDeadline`. */
  measureClock?: boolean;
}

type ScriptFn = (keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * Redis replies that mean "not available right now" rather than "this call is wrong".
 * MYCELLATE is our scripts' own: Redis ran a call after its deadline and refused it.
 */
const UNAVAILABLE_REPLIES = ['LOADING', 'READONLY', 'MASTERDOWN', 'BUSY', 'TRYAGAIN', 'CLUSTERDOWN', 'MYCELLATE'];

/** ioredis's rejection when `commandTimeout` passes without a reply. */
const COMMAND_TIMED_OUT = 'Command timed out';

/** How often a connection that uses deadlines reads Redis's clock again. */
const CLOCK_RESYNC_MS = 60_000;

/** Whether `err` is a script's refusal to run after its deadline (it changed nothing). */
export function isLateRefusal(err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined;
  return cause instanceof Error && cause.name === 'ReplyError' && cause.message.startsWith('MYCELLATE');
}

/**
 * One ioredis connection configured to fail fast instead of hanging: no offline queue (a
 * call while disconnected rejects at once), in-flight commands rejected when the
 * connection drops (maxRetriesPerRequest 0, nothing re-sent after reconnect), and a command
 * timeout. A call made while the connection is known to be down rejects at once with
 * REDIS_UNAVAILABLE, also before the first connection once an attempt has failed. A timed-out
 * command marks the connection degraded (a stopped or overloaded Redis accepts bytes but
 * answers nothing): calls fail fast until a probe PING is answered. Commands already sent
 * cannot be taken back; the publish scripts carry a deadline for that (redis-streams.ts).
 * ioredis reconnects by itself; its 'error' events are counted and reported to the shared
 * RedisHealth, which logs the outage once, never left unhandled.
 */
export class RedisConnection {
  readonly client: Redis;
  readonly stats: RedisConnectionStats = { errors: 0, reconnects: 0 };
  readonly health: RedisHealth;
  readonly commandTimeoutMs: number;
  private readonly role: string;
  private readonly hooks: Hooks;
  private readonly logger: Logger | undefined;
  private readonly connectTimeoutMs: number;
  private readonly waiters = new Set<{ resolve: () => void; reject: (err: Error) => void; failFast: boolean }>();
  private readonly pingTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private up = false;
  private everUp = false;
  /** An attempt to connect failed: from now on a call while down rejects at once. */
  private attemptFailed = false;
  /** A command timed out on a connection ioredis still thinks is ready. */
  private degraded = false;
  private closed = false;
  private lastError = 'connection closed';
  /**
   * Redis's clock (ms) read at local monotonic time `monoMs`, and how far off that pairing may
   * be. Monotonic, so a step of the local wall clock (NTP) does not move deadlines.
   */
  private clock = { redisMs: 0, monoMs: 0, uncertaintyMs: 0 };
  private clockTimer: NodeJS.Timeout | undefined;

  constructor(options: RedisBackendOptions, role: string, hooks: Hooks = {}) {
    this.role = role;
    this.hooks = hooks;
    this.logger = options.logger;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 5_000;
    this.health = options.health ?? new RedisHealth(options.url, options.logger);
    this.health.register(role);
    const maxDelay = options.maxReconnectDelayMs ?? 2_000;
    this.client = new Redis(options.url, {
      connectionName: `mycel-${role}`,
      disableClientInfo: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      commandTimeout: this.commandTimeoutMs,
      connectTimeout: Math.min(this.connectTimeoutMs, 10_000),
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelay),
    });
    this.client.on('error', (err: Error) => this.onError(err));
    this.client.on('close', () => this.onClose());
    this.client.on('ready', () => {
      void this.onReady();
    });
    const pingIntervalMs = options.pingIntervalMs ?? 0;
    if (pingIntervalMs > 0) {
      this.pingTimer = setInterval(() => this.ping(), pingIntervalMs);
      this.pingTimer.unref();
    }
  }

  get isUp(): boolean {
    return this.up && !this.degraded;
  }

  /**
   * Resolves when the connection is usable. While the first attempt to connect is under way
   * it waits (bounded); once an attempt failed, or after an outage began, it rejects at once,
   * as waiting would only delay the same error.
   */
  async whenUp(): Promise<void> {
    if (this.closed) throw new MycelError('SHUTTING_DOWN', { component: `redis-${this.role}` });
    if (this.isUp) return;
    if (this.everUp || this.attemptFailed) throw this.unavailable('call');
    await this.waitFirstUp(true);
  }

  /** Resolves once the connection has been up at least once (bounded wait, also across failed attempts). */
  async firstUp(): Promise<void> {
    if (this.closed) throw new MycelError('SHUTTING_DOWN', { component: `redis-${this.role}` });
    if (this.everUp) return;
    await this.waitFirstUp(false);
  }

  /**
   * A time in Redis's clock (ms) `budgetMs` from now, for scripts that must refuse to act when
   * Redis runs them late. Counted from Redis's own TIME read at (re)connection (and every
   * CLOCK_RESYNC_MS), with its uncertainty (half the round trip) taken off, so a skewed local
   * clock neither fails every call nor lets a late one through.
   */
  redisDeadline(budgetMs: number): number {
    const { redisMs, monoMs, uncertaintyMs } = this.clock;
    return Math.floor(redisMs + (performance.now() - monoMs) + budgetMs - uncertaintyMs);
  }

  /** Reads Redis's clock again (after a refusal that suggests the clocks disagree). */
  async resyncClock(): Promise<void> {
    await this.run('time', () => this.measureClock());
  }

  private async waitFirstUp(failFast: boolean): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        failFast,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new MycelError('REDIS_UNAVAILABLE', { role: this.role, op: 'connect' }));
      }, this.connectTimeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Runs a call once the connection is up and maps its failure to a MycelError. */
  async run<T>(op: string, fn: (client: Redis) => Promise<T>): Promise<T> {
    await this.whenUp();
    try {
      return await fn(this.client);
    } catch (err) {
      if (err instanceof Error && err.message === COMMAND_TIMED_OUT) this.markDegraded();
      throw toMycelError(err, this.role, op);
    }
  }

  /** Registers a Lua script (EVALSHA, with EVAL the first time on each socket). */
  defineScript(name: string, lua: string, numberOfKeys: number): ScriptFn {
    this.client.defineCommand(name, { lua, numberOfKeys });
    const fn = (this.client as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[name];
    if (!fn) throw new Error(`ioredis did not define ${name}`);
    return (keys, args) => fn.call(this.client, ...keys, ...args);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.up = false;
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.stopProbe();
    const err = new MycelError('SHUTTING_DOWN', { component: `redis-${this.role}` });
    for (const waiter of this.waiters) waiter.reject(err);
    this.waiters.clear();
    if (this.client.status === 'ready') {
      try {
        await this.client.quit();
        return;
      } catch {
        // QUIT failed because the connection is already going away; disconnect() below ends it either way.
      }
    }
    this.client.disconnect();
  }

  private async onReady(): Promise<void> {
    try {
      if (this.hooks.measureClock) await this.measureClock();
      if (this.hooks.setup) await this.hooks.setup();
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
      // Setup failed on a live connection: reconnect so that the next 'ready' retries it.
      if (!this.closed && this.client.status === 'ready') this.client.disconnect(true);
      return;
    }
    if (this.closed || this.client.status !== 'ready') return;
    this.up = true;
    this.degraded = false;
    this.stopProbe();
    const again = this.everUp;
    this.everUp = true;
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
    this.health.up(this.role);
    if (again) {
      this.stats.reconnects++;
      // The instance-wide "available again" line comes from RedisHealth once every connection is back.
      this.logger?.debug({ role: this.role }, 'redis connection restored');
      this.hooks.onReconnect?.();
    }
  }

  private async measureClock(): Promise<void> {
    const sentAt = performance.now();
    const [seconds, micros] = await this.client.time();
    const receivedAt = performance.now();
    const redisMs = Number(seconds) * 1000 + Number(micros) / 1000;
    // Redis read its clock somewhere within the round trip: pair it with the middle, and count
    // half the round trip (+1 ms for TIME's rounding here) as the possible error.
    this.clock = { redisMs, monoMs: (sentAt + receivedAt) / 2, uncertaintyMs: (receivedAt - sentAt) / 2 + 1 };
    if (!this.clockTimer) {
      // Re-read now and then: Redis's host may step or drift its clock while we stay connected.
      this.clockTimer = setInterval(() => {
        if (this.isUp) this.measureClock().catch((err: unknown) => this.health.failedAttempt(this.role, err instanceof Error ? err.message : String(err)));
      }, CLOCK_RESYNC_MS);
      this.clockTimer.unref();
    }
  }

  private onError(err: Error): void {
    this.stats.errors++;
    this.lastError = err.message;
    if (!this.up) this.connectAttemptFailed();
    this.health.failedAttempt(this.role, err.message);
  }

  private onClose(): void {
    const wasUp = this.up;
    this.up = false;
    this.degraded = false;
    this.stopProbe();
    if (this.closed) return;
    if (!wasUp) this.connectAttemptFailed();
    this.health.down(this.role, this.lastError);
  }

  /** Calls waiting for the first connection learn at once that Redis is not there. */
  private connectAttemptFailed(): void {
    if (this.closed) return;
    this.attemptFailed = true;
    for (const waiter of this.waiters) {
      if (!waiter.failFast) continue;
      waiter.reject(this.unavailable('connect'));
      this.waiters.delete(waiter);
    }
  }

  /**
   * A command got no reply in time while the socket looks fine (Redis stopped, overloaded, or a
   * silent network): stop sending, so calls fail fast instead of each waiting for the timeout,
   * and PING until Redis answers again. Nothing is torn down: in-flight commands keep their
   * own timeouts, and late execution of a publish is refused by its deadline.
   */
  private markDegraded(): void {
    if (this.degraded || !this.up || this.closed) return;
    this.degraded = true;
    this.lastError = `no reply within ${this.commandTimeoutMs} ms`;
    this.health.down(this.role, this.lastError);
    let probing = false;
    this.probeTimer = setInterval(
      () => {
        if (probing || !this.degraded || this.client.status !== 'ready') return;
        probing = true;
        this.client
          .ping()
          .then(() => {
            if (!this.degraded || this.closed || this.client.status !== 'ready') return;
            this.degraded = false;
            this.stopProbe();
            this.health.up(this.role);
          })
          .catch((err: unknown) => this.health.failedAttempt(this.role, err instanceof Error ? err.message : String(err)))
          .finally(() => {
            probing = false;
          });
      },
      Math.min(1_000, this.commandTimeoutMs),
    );
    this.probeTimer.unref();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }

  /** Refusing a call because Redis is known to be away: the outage was logged once, so no stack for each call. */
  private unavailable(op: string): MycelError {
    const err = new MycelError('REDIS_UNAVAILABLE', { role: this.role, op });
    err.stack = `${err.name}: ${err.message} (${this.role}: ${this.lastError})`;
    return err;
  }

  private ping(): void {
    if (!this.up || this.closed) return;
    this.client.ping().catch((err: unknown) => {
      this.onError(err instanceof Error ? err : new Error(String(err)));
      // No PONG within the command timeout: the socket is dead without having noticed; reconnect.
      if (!this.closed && this.client.status === 'ready') this.client.disconnect(true);
    });
  }
}

export function toMycelError(err: unknown, role: string, op: string): MycelError {
  if (err instanceof MycelError) return err;
  const error = err instanceof Error ? err : new Error(String(err));
  const isReply = error.name === 'ReplyError';
  if (isReply && !UNAVAILABLE_REPLIES.some((code) => error.message.startsWith(code))) {
    return new MycelError('INTERNAL', { role, op }, undefined, { cause: error });
  }
  // Redis's own text (addresses, ports) stays in `cause`, for logs; details may reach clients.
  return new MycelError('REDIS_UNAVAILABLE', { role, op }, undefined, { cause: error });
}
