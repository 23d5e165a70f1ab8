import type { Logger } from '../log.js';

/**
 * Runs one call of a Bus's handler, for every Bus implementation. A throwing handler is the
 * Hub's bug: it must not break delivery of the other messages (nor, on Redis, escape into
 * ioredis's socket callback and crash the process), so it is counted and logged instead.
 */
export function dispatchToHandler(stats: { handlerErrors: number }, logger: Logger | undefined, kind: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    stats.handlerErrors++;
    logger?.error({ err, kind }, 'bus handler threw');
  }
}
