import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { MycelError } from '../errors.js';
import type { Logger } from '../log.js';
import { CLIENT_TOKEN_FILE, writeFileAtomic } from './shared-store.js';

/**
 * The shared node's client token (docs/shared-node.md): a random bearer token in the file
 * `client-token` of the storage directory, readable by the group only, so reading it is what
 * being a member means. A new one replaces it every `rotateMs`; the previous one is still
 * accepted for `graceMs` (a command that read it just before has time to finish). The node keeps
 * only the tokens' sha256 and compares in constant time; the token itself is in the file alone,
 * never in a log.
 */

/** Every client token starts so: a resolver can tell it from a session token without a lookup. */
export const CLIENT_TOKEN_PREFIX = 'mycel-ct1.';

export interface ClientTokenOptions {
  /** The storage directory (blobs.dir). */
  dir: string;
  /** The group the file belongs to. */
  gid: number;
  rotateMs: number;
  graceMs: number;
  log: Logger;
  /** The clock (tests move it). */
  now?: () => number;
}

const digest = (token: string): Buffer => createHash('sha256').update(token).digest();

/** Whether two sha256 digests are equal, in time that does not depend on where they differ. */
function same(a: Buffer, b: Buffer | null): boolean {
  return b !== null && timingSafeEqual(a, b);
}

export class ClientTokens {
  private current: Buffer | null = null;
  private previous: { hash: Buffer; until: number } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: ClientTokenOptions) {
    if (options.graceMs > options.rotateMs) {
      // Only one previous token is kept: a longer grace would end at the next rotation anyway.
      throw new MycelError('AUTH_GROUP_FAILED', { reason: 'blobs.clientTokenGraceSeconds is longer than blobs.clientTokenRotateSeconds' }, 'blobs.clientTokenGraceSeconds must be at most blobs.clientTokenRotateSeconds');
    }
    this.now = options.now ?? Date.now;
  }

  /** Path of the token file. */
  get path(): string {
    return join(this.options.dir, CLIENT_TOKEN_FILE);
  }

  /** Writes the first token and starts rotating. A token of an earlier run is not accepted. */
  async start(): Promise<void> {
    await this.rotate();
    const schedule = (): void => {
      this.timer = setTimeout(() => {
        this.rotate().then(schedule, (err: unknown) => {
          // The current token stays valid (rotate() keeps it on failure); try again at the next tick.
          this.options.log.error({ err, path: this.path }, 'client token rotation failed; the current token stays valid');
          schedule();
        });
      }, this.options.rotateMs);
      this.timer.unref();
    };
    schedule();
  }

  /**
   * A new token: accepted first, then written to the file, so a member who reads the new file
   * is never refused; the old one becomes the previous, accepted for the grace period. A failed
   * write restores the tokens as they were.
   */
  async rotate(): Promise<void> {
    const token = `${CLIENT_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const before = { current: this.current, previous: this.previous };
    this.previous = this.current === null ? null : { hash: this.current, until: this.now() + this.options.graceMs };
    this.current = digest(token);
    try {
      await writeFileAtomic(this.options.dir, CLIENT_TOKEN_FILE, `${token}\n`, this.options.gid);
    } catch (err) {
      this.current = before.current;
      this.previous = before.previous;
      const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
      throw new MycelError('AUTH_GROUP_FAILED', { path: this.path, reason }, `Cannot write the client token ${this.path}: ${reason}`, { cause: err });
    }
    this.options.log.info({ path: this.path, graceMs: this.options.graceMs }, 'client token rotated');
  }

  /** Whether `token` is the current token, or the previous one within its grace period. */
  accepts(token: string): boolean {
    if (!token.startsWith(CLIENT_TOKEN_PREFIX)) return false;
    const hash = digest(token);
    const previous = this.previous;
    // Both comparisons run every time: the answer's timing says nothing about which matched.
    const isCurrent = same(hash, this.current);
    const isPrevious = same(hash, previous?.hash ?? null);
    return isCurrent || (isPrevious && previous !== null && this.now() < previous.until);
  }

  /** Stops rotating (the file stays; the next start replaces it). */
  close(): void {
    clearTimeout(this.timer);
  }
}
