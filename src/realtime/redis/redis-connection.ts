import { Redis } from 'ioredis';
import type { Logger } from '../../log.js';
import { MycelError } from '../../errors.js';

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
}

type ScriptFn = (keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/** Redis replies that mean "not available right now" rather than "this call is wrong". */
const UNAVAILABLE_REPLIES = ['LOADING', 'READONLY', 'MASTERDOWN', 'BUSY', 'TRYAGAIN', 'CLUSTERDOWN'];

/**
 * One ioredis connection configured to fail fast instead of hanging: no offline queue (a
 * call while disconnected rejects at once), in-flight commands rejected when the
 * connection drops (maxRetriesPerRequest 0, nothing re-sent after reconnect, so a call
 * that rejected never happens later), and a command timeout. ioredis reconnects by itself;
 * its 'error' events are counted and logged (throttled), never left unhandled.
 */
export class RedisConnection {
  readonly client: Redis;
  readonly stats: RedisConnectionStats = { errors: 0, reconnects: 0 };
  private readonly role: string;
  private readonly hooks: Hooks;
  private readonly logger: Logger | undefined;
  private readonly connectTimeoutMs: number;
  private readonly waiters = new Set<{ resolve: () => void; reject: (err: Error) => void }>();
  private readonly pingTimer: NodeJS.Timeout | undefined;
  private up = false;
  private everUp = false;
  private closed = false;
  private lastErrorLogAt = 0;

  constructor(options: RedisBackendOptions, role: string, hooks: Hooks = {}) {
    this.role = role;
    this.hooks = hooks;
    this.logger = options.logger;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    const maxDelay = options.maxReconnectDelayMs ?? 2_000;
    this.client = new Redis(options.url, {
      connectionName: `mycel-${role}`,
      disableClientInfo: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      commandTimeout: options.commandTimeoutMs ?? 5_000,
      connectTimeout: Math.min(this.connectTimeoutMs, 10_000),
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelay),
    });
    this.client.on('error', (err: Error) => this.onError(err));
    this.client.on('close', () => {
      this.up = false;
    });
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
    return this.up;
  }

  /**
   * Resolves when the connection is usable. Before the first connection it waits (bounded);
   * after an outage began it rejects at once, as waiting would only delay the same error.
   */
  async whenUp(): Promise<void> {
    if (this.closed) throw new MycelError('SHUTTING_DOWN', { component: `redis-${this.role}` });
    if (this.up) return;
    if (this.everUp) throw new MycelError('REDIS_UNAVAILABLE', { role: this.role });
    await this.firstUp();
  }

  /** Resolves once the connection has been up at least once (bounded wait). */
  async firstUp(): Promise<void> {
    if (this.closed) throw new MycelError('SHUTTING_DOWN', { component: `redis-${this.role}` });
    if (this.everUp) return;
    await new Promise<void>((resolve, reject) => {
      const waiter = {
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
      if (this.hooks.setup) await this.hooks.setup();
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
      // Setup failed on a live connection: reconnect so that the next 'ready' retries it.
      if (!this.closed && this.client.status === 'ready') this.client.disconnect(true);
      return;
    }
    if (this.closed || this.client.status !== 'ready') return;
    this.up = true;
    const again = this.everUp;
    this.everUp = true;
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters.clear();
    if (again) {
      this.stats.reconnects++;
      this.logger?.info({ role: this.role }, 'redis connection restored');
      this.hooks.onReconnect?.();
    }
  }

  private onError(err: Error): void {
    this.stats.errors++;
    const now = Date.now();
    // Reconnect attempts fail every few hundred ms during an outage; one line per 5 s is enough.
    if (now - this.lastErrorLogAt >= 5_000) {
      this.lastErrorLogAt = now;
      this.logger?.warn({ err, role: this.role, errors: this.stats.errors }, 'redis connection error');
    }
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
