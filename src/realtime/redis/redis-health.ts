import type { Readiness, ReadinessCheck } from '../../lib/readiness.js';
import type { Logger } from '../../log.js';

/** What a Redis outage stops, said once in the log line that reports it. */
const AFFECTED = 'realtime publish, subscribe, presence and history fail at once with a temporary error until it is back';

/** While Redis stays away, one reminder per this long (with counts), instead of a line per failed attempt. */
const REMINDER_INTERVAL_MS = 60_000;

type RoleState = 'connecting' | 'up' | 'down';

interface Outage {
  since: number;
  reason: string;
  failedAttempts: number;
  lastReminderAt: number;
}

/** The URL without its password: it goes into logs and readiness replies. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'redis://(unparsable URL)';
  }
}

/**
 * What an instance knows about its Redis without asking it: the state of each of its
 * connections, as they report it (RedisConnection calls `up`/`down`/`failedAttempt`). It logs
 * an outage once when the first connection is lost (which Redis, why, what stops), a short
 * reminder with counts at most once a minute, and once when every connection is back, so an
 * outage costs a few lines rather than a stack trace per attempt. /readyz reads it: a field
 * read, no round trip per probe.
 */
export class RedisHealth implements ReadinessCheck {
  readonly name = 'redis';
  readonly url: string;
  private readonly logger: Logger | undefined;
  private readonly roles = new Map<string, RoleState>();
  private outage: Outage | undefined;

  constructor(url: string, logger?: Logger) {
    this.url = redactRedisUrl(url);
    this.logger = logger;
  }

  /** A connection starts as connecting: not ready, but not an outage either. */
  register(role: string): void {
    this.roles.set(role, 'connecting');
  }

  up(role: string): void {
    this.roles.set(role, 'up');
    const outage = this.outage;
    if (!outage || ![...this.roles.values()].every((state) => state === 'up')) return;
    this.outage = undefined;
    this.logger?.info(
      { redis: this.url, downMs: Date.now() - outage.since, failedAttempts: outage.failedAttempts },
      `Redis at ${this.url} is available again; realtime back-ends work again`,
    );
  }

  down(role: string, reason: string): void {
    this.roles.set(role, 'down');
    const now = Date.now();
    if (!this.outage) {
      this.outage = { since: now, reason, failedAttempts: 0, lastReminderAt: now };
      this.logger?.error({ redis: this.url, role, reason }, `Redis at ${this.url} is unavailable (${reason}): ${AFFECTED}`);
    }
  }

  /** A reconnect attempt failed (or another error on a connection): counted, and logged only as a periodic reminder. */
  failedAttempt(role: string, reason: string): void {
    const outage = this.outage;
    if (!outage) {
      // An error on a connection that is still up (e.g. a reply error): not an outage.
      if (this.roles.get(role) === 'up') return;
      this.down(role, reason);
      return;
    }
    outage.failedAttempts++;
    const now = Date.now();
    if (now - outage.lastReminderAt >= REMINDER_INTERVAL_MS) {
      outage.lastReminderAt = now;
      this.logger?.warn(
        { redis: this.url, downMs: now - outage.since, failedAttempts: outage.failedAttempts, reason },
        `Redis at ${this.url} is still unavailable`,
      );
    }
  }

  get isDown(): boolean {
    return this.outage !== undefined;
  }

  /** The reply is public (/readyz needs no auth): it names Redis, not its address or error text; the log has those. */
  check(): Readiness {
    const notUp = [...this.roles].filter(([, state]) => state !== 'up').map(([role]) => role);
    if (notUp.length === 0) return { ready: true };
    const what = this.outage ? 'is unavailable' : 'is not connected yet';
    return { ready: false, reason: `Redis ${what} (connections: ${notUp.join(', ')}); realtime publish, subscribe, presence and history fail` };
  }
}
