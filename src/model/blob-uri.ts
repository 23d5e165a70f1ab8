import { MycelError } from '../errors.js';

/**
 * Blob URIs name bytes by their hash: `sha256://<64 hex>` (the primary name) or
 * `sha1://<40 hex>` (an alias, for tools that speak sha1). Hex is stored and printed lower case.
 */

export type BlobAlgo = 'sha256' | 'sha1';

export interface BlobUri {
  readonly algo: BlobAlgo;
  /** Lower-case hex digest. */
  readonly hex: string;
}

const HEX_LENGTH: Record<BlobAlgo, number> = { sha256: 64, sha1: 40 };
const FULL_RE = /^(sha256|sha1):(?:\/\/)?([0-9a-fA-F]+)$/;
const HEX_RE = /^[0-9a-fA-F]+$/;

function bad(input: string, reason: string): MycelError {
  return new MycelError('BAD_BLOB_URI', { uri: input.slice(0, 200), reason });
}

/**
 * Parses `sha256://<hex>`, `sha1://<hex>`, the short forms `sha256:<hex>` / `sha1:<hex>`, and,
 * with `bareHex`, a bare digest whose length (64 or 40) says the algorithm. BAD_BLOB_URI otherwise.
 */
export function parseBlobUri(input: string, options: { bareHex?: boolean } = {}): BlobUri {
  if (typeof input !== 'string') throw bad(String(input), 'not a string');
  const m = FULL_RE.exec(input);
  let algo: BlobAlgo;
  let hex: string;
  if (m) {
    algo = m[1] as BlobAlgo;
    hex = m[2]!;
  } else if (options.bareHex && HEX_RE.test(input) && (input.length === 64 || input.length === 40)) {
    algo = input.length === 64 ? 'sha256' : 'sha1';
    hex = input;
  } else {
    throw bad(input, 'expected sha256://<64 hex> or sha1://<40 hex>');
  }
  if (hex.length !== HEX_LENGTH[algo]) throw bad(input, `a ${algo} digest has ${HEX_LENGTH[algo]} hex digits`);
  return { algo, hex: hex.toLowerCase() };
}

/** `sha256://<hex>` / `sha1://<hex>`. */
export function formatBlobUri(algo: BlobAlgo, hex: string): string {
  return `${algo}://${hex.toLowerCase()}`;
}

/** Whether `hex` is a lower-case digest of the algorithm's length. */
export function isHexDigest(algo: BlobAlgo, hex: string): boolean {
  return hex.length === HEX_LENGTH[algo] && /^[0-9a-f]+$/.test(hex);
}

/** Throws BAD_BLOB_URI unless `hex` is a sha256 hex digest; returns it lower-cased. */
export function assertSha256Hex(hex: string): string {
  const lower = typeof hex === 'string' ? hex.toLowerCase() : '';
  if (!isHexDigest('sha256', lower)) throw bad(String(hex), 'expected 64 hex digits');
  return lower;
}
