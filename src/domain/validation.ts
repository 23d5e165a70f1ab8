import { MycelError } from '../errors.js';
import { findJsonProblem, MAX_JSON_DEPTH, unstorableStringReason } from '../lib/json-limits.js';

/**
 * Limits on what a node accepts; the HTTP body limit applies on top. This module is the one
 * place that guarantees storage only gets values it can keep exactly, identical on SQLite and
 * PostgreSQL: every stored string is free of NUL and of lone surrogates, and meta is finite,
 * bounded JSON that canonical JSON hashes as it is stored.
 */
export const LIMITS = {
  channelNameChars: 255,
  descriptionChars: 4096,
  postBodyChars: 1_000_000,
  metaJsonChars: 256_000,
  blobRefs: 100,
  labelChars: 200,
  /** Nesting of `meta` (the object itself is level 1); see lib/json-limits.ts. */
  metaDepth: MAX_JSON_DEPTH,
  idempotencyKeyChars: 256,
  pageSize: { default: 50, max: 1000 },
} as const;

// Printable ASCII without space; ':' separates the namespace from the rest of the name.
const CHANNEL_NAME_RE = /^[A-Za-z0-9_.\-$@#=+/~]+(?::[A-Za-z0-9_.\-$@#=+/~:]+)?$/;
const BLOB_REF_RE = /^(?:sha256:\/\/[0-9a-f]{64}|sha1:\/\/[0-9a-f]{40})$/;

function invalid(field: string, reason: string): MycelError {
  return new MycelError('VALIDATION_FAILED', { field, reason }, `${field}: ${reason}`);
}

/** Refuses a string that storage would not give back exactly as it was acknowledged and hashed. */
function storable(field: string, value: string): string {
  const reason = unstorableStringReason(value);
  if (reason !== null) throw invalid(field, reason);
  return value;
}

/** Splits and checks `namespace:name`; returns the namespace ("" for the default one). */
export function parseChannelName(name: unknown): { name: string; namespace: string } {
  if (typeof name !== 'string' || name.length === 0) throw invalid('name', 'must be a non-empty string');
  if (name.length > LIMITS.channelNameChars) throw invalid('name', `must be at most ${LIMITS.channelNameChars} characters`);
  if (!CHANNEL_NAME_RE.test(name)) throw invalid('name', 'must be `name` or `namespace:name` of letters, digits and _.-$@#=+/~');
  const i = name.indexOf(':');
  return { name, namespace: i < 0 ? '' : name.slice(0, i) };
}

export function checkDescription(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw invalid('description', 'must be a string');
  if (value.length > LIMITS.descriptionChars) throw invalid('description', `must be at most ${LIMITS.descriptionChars} characters`);
  return storable('description', value);
}

export function checkBody(value: unknown): string {
  if (typeof value !== 'string') throw invalid('body', 'must be a string');
  if (value.length > LIMITS.postBodyChars) throw invalid('body', `must be at most ${LIMITS.postBodyChars} characters`);
  return storable('body', value);
}

export function checkMeta(value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('meta', 'must be a JSON object');
  // Before JSON.stringify, which would overflow the stack on deep nesting and turn Infinity into null.
  const problem = findJsonProblem(value, { maxDepth: LIMITS.metaDepth, storableStrings: true }, 'meta');
  if (problem !== null) throw invalid(problem.path, problem.reason);
  if (JSON.stringify(value).length > LIMITS.metaJsonChars) throw invalid('meta', `must encode to at most ${LIMITS.metaJsonChars} characters`);
  return value as Record<string, unknown>;
}

/** The author string stored on a post: it comes from a token's subject, which storage must keep exactly too. */
export function checkAuthor(value: string): string {
  return storable('author', value);
}

export function checkBlobRefs(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid('blobRefs', 'must be an array of hash URIs');
  if (value.length > LIMITS.blobRefs) throw invalid('blobRefs', `must have at most ${LIMITS.blobRefs} entries`);
  for (const ref of value) {
    if (typeof ref !== 'string' || !BLOB_REF_RE.test(ref)) throw invalid('blobRefs', 'each entry must be sha256://<64 hex> or sha1://<40 hex>');
  }
  return [...new Set(value as string[])];
}

export function checkLabel(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') throw invalid('label', 'must be a string');
  if (value.length > LIMITS.labelChars) throw invalid('label', `must be at most ${LIMITS.labelChars} characters`);
  return storable('label', value);
}

export function checkLimit(value: unknown): number {
  if (value === undefined) return LIMITS.pageSize.default;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > LIMITS.pageSize.max) {
    throw invalid('limit', `must be an integer from 1 to ${LIMITS.pageSize.max}`);
  }
  return value;
}

/** An idempotency key: 1–256 printable ASCII characters (it travels in headers too). */
export function checkIdempotencyKey(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[\x21-\x7e]+$/.test(value) || value.length > LIMITS.idempotencyKeyChars) {
    throw invalid('idempotencyKey', `must be 1 to ${LIMITS.idempotencyKeyChars} printable ASCII characters without spaces`);
  }
  return value;
}
