import { isMycelError } from '../errors.js';
import { ERRORS, ReplyError } from './protocol/codes.js';

/** The message of the reply error a client gets while a realtime back-end (Redis) is away. */
export const BACKEND_UNAVAILABLE_MESSAGE = 'realtime back-end unavailable';

/**
 * Whether an error means "a back-end the realtime layer needs is away right now" (Redis down,
 * stopped, or not yet re-subscribed after a restart). Such an error is expected during an
 * outage, which RedisHealth already logs once; callers count it instead of logging each one.
 */
export function isBackendUnavailable(err: unknown): boolean {
  return isMycelError(err) && err.code === 'REDIS_UNAVAILABLE';
}

/**
 * The reply error for a back-end outage: 100 with `temporary`, so the client retries (a
 * subscribe is retried with backoff, a connection stays up), and a message that says what is
 * wrong instead of "internal server error". Other errors are returned as they are.
 */
export function asReplyError(err: unknown): unknown {
  return isBackendUnavailable(err) ? new ReplyError(ERRORS.internal, BACKEND_UNAVAILABLE_MESSAGE) : err;
}
