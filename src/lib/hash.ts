import { createHash, timingSafeEqual } from 'node:crypto';

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Compares two secrets in time that does not depend on where they differ. */
export function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const ab = typeof a === 'string' ? Buffer.from(a) : Buffer.from(a);
  const bb = typeof b === 'string' ? Buffer.from(b) : Buffer.from(b);
  // Compare against itself when lengths differ so the time still does not leak the prefix.
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}
