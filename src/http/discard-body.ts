import type { IncomingMessage } from 'node:http';

/**
 * A request refused before its body was all read (413 BLOB_TOO_LARGE, a bad media type): the
 * answer goes out, then the rest of the body is read and dropped — up to a budget — before the
 * connection is cut. Cutting it at once makes the kernel reset a connection that is still
 * receiving, and a client still sending then gets EPIPE or ECONNRESET instead of the answer
 * (the "lingering close" of HTTP servers).
 */

export interface DiscardBudget {
  /** Most bytes read and dropped; one more cuts the connection. */
  bytes: number;
  /** Most milliseconds spent; then the connection is cut. */
  ms: number;
}

export const DEFAULT_DISCARD_BUDGET: DiscardBudget = { bytes: 16 * 1024 * 1024, ms: 5_000 };

/** Reads and drops what is left of `raw`'s body within `budget`; past it, destroys the socket. */
export function discardRestOfBody(raw: IncomingMessage, budget: DiscardBudget = DEFAULT_DISCARD_BUDGET): void {
  if (raw.complete || raw.destroyed) return;
  let seen = 0;
  const cleanup = (): void => {
    clearTimeout(timer);
    raw.off('data', onData);
  };
  const cut = (): void => {
    cleanup();
    raw.socket?.destroy();
  };
  const onData = (chunk: Buffer): void => {
    seen += chunk.length;
    if (seen > budget.bytes) cut();
  };
  const timer = setTimeout(cut, budget.ms);
  timer.unref();
  raw.on('data', onData);
  raw.once('end', cleanup);
  raw.once('close', cleanup);
  raw.resume();
}
