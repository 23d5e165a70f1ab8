import { createServer } from 'node:net';
import { MycelError } from '../errors.js';

/**
 * Turning "cannot listen" into a coded error with a hint, and finding it out before a node
 * is created: `mycel serve` on a busy port must not leave a new, empty node behind.
 */

/** A listen failure as PORT_IN_USE or LISTEN_FAILED; anything else unchanged. */
export function listenError(err: unknown, host: string, port: number): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EADDRINUSE') {
    return new MycelError('PORT_IN_USE', { host, port }, `Port ${port} on ${host} is already in use`, { cause: err });
  }
  if (code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    const reason = err instanceof Error ? err.message : String(err);
    return new MycelError('LISTEN_FAILED', { host, port, reason }, `Cannot listen on ${host} port ${port}: ${reason}`, { cause: err });
  }
  return err;
}

/**
 * Binds host:port for a moment and lets go, so that a port in use is reported before anything
 * is created. Port 0 always binds. Another process may still take the port in between; then
 * the real listen fails with the same error.
 */
export async function assertCanListen(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host, port, exclusive: true }, () => resolve());
    });
  } catch (err) {
    throw listenError(err, host, port);
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
