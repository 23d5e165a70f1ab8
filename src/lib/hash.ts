import { hash, timingSafeEqual } from 'node:crypto';

/**
 * SHA-256 of a string (as UTF-8) or bytes, in hex. The one-shot `crypto.hash` costs half of
 * `createHash().update().digest()` for the short inputs hashed here (each change is hashed
 * once as it is written and once more as another node imports it).
 */
export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
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
