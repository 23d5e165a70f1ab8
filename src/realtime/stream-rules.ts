import { randomBytes } from 'node:crypto';
import { MycelError } from '../errors.js';
import type { HistoryOptions, HistoryQuery } from './types.js';

/**
 * Rules every Bus/HistoryStore implementation applies the same way, so memory and Redis
 * cannot drift apart on what they accept.
 */

/**
 * A new stream epoch. Base64url only, so it can be spliced into JSON (the Redis publish
 * script builds the bus message by concatenation) without escaping.
 */
export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/** Seconds to whole milliseconds, at least 1 (a TTL of 0 would delete the key in Redis). */
export function ttlMs(seconds: number): number {
  return Math.max(1, Math.round(seconds * 1000));
}

export function checkHistoryOptions(options: HistoryOptions): void {
  if (!Number.isInteger(options.size) || options.size < 1) {
    throw new MycelError('VALIDATION_FAILED', { field: 'history.size', value: options.size });
  }
  if (!(options.ttlSeconds > 0) || !Number.isFinite(options.ttlSeconds)) {
    throw new MycelError('VALIDATION_FAILED', { field: 'history.ttlSeconds', value: options.ttlSeconds });
  }
  if (!(options.metaTtlSeconds > 0) || !Number.isFinite(options.metaTtlSeconds)) {
    throw new MycelError('VALIDATION_FAILED', { field: 'history.metaTtlSeconds', value: options.metaTtlSeconds });
  }
}

export function checkHistoryQuery(query: HistoryQuery): void {
  if (!Number.isInteger(query.limit) || query.limit < -1) {
    throw new MycelError('VALIDATION_FAILED', { field: 'limit', value: query.limit });
  }
  if (!(query.metaTtlSeconds > 0) || !Number.isFinite(query.metaTtlSeconds)) {
    throw new MycelError('VALIDATION_FAILED', { field: 'metaTtlSeconds', value: query.metaTtlSeconds });
  }
  if (query.since && (!Number.isSafeInteger(query.since.offset) || query.since.offset < 0)) {
    throw new MycelError('VALIDATION_FAILED', { field: 'since.offset', value: query.since.offset });
  }
}

/** An empty epoch in `since` means "any epoch" (the protocol's convention for a client that has none). */
export function epochMatches(sinceEpoch: string, current: string): boolean {
  return sinceEpoch === '' || sinceEpoch === current;
}
