/** Reconnect delays: exponential backoff with full jitter (base 250 ms, cap 30 s). */

export const BACKOFF_BASE_MS = 250;
export const BACKOFF_CAP_MS = 30_000;

/** A delay for the `attempt`-th retry in a row (0 = the first): uniform in [0, min(cap, base·2^attempt)). */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 20));
  return Math.floor(random() * ceiling);
}
