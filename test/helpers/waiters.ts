/**
 * Waiting on state that changes by events, without polling: each `wait` re-checks its
 * condition on every `notify()` (the owner calls it whenever its state changed) and fails
 * after its timeout, saying what it waited for and, if the owner describes it, what it saw.
 */
export class Waiters {
  readonly #pending = new Set<() => void>();
  readonly #seen: (() => string) | undefined;

  /** `seen` describes the owner's state for the message of a timeout. */
  constructor(seen?: () => string) {
    this.#seen = seen;
  }

  /** Resolves with the first value of `check()` other than undefined; rejects after `timeoutMs`. */
  wait<T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const attempt = (): void => {
        const v = check();
        if (v === undefined) return;
        clearTimeout(timer);
        this.#pending.delete(attempt);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.#pending.delete(attempt);
        const seen = this.#seen ? `; ${this.#seen()}` : '';
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen}`));
      }, timeoutMs);
      this.#pending.add(attempt);
      attempt();
    });
  }

  /** Re-checks every pending wait. */
  notify(): void {
    for (const attempt of [...this.#pending]) attempt();
  }
}
