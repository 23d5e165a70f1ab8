/**
 * Stream recovery: can a client that was at `since` get everything it missed?
 *
 * Recovered when the epoch matches (an empty requested epoch matches any), and either nothing
 * was published since (top == offset), or history holds the whole gap (first == offset + 1 and
 * last == top), and the oldest missed publication is younger than the recovery window.
 * Otherwise the client is told it did not recover; it never gets a partial replay.
 */
import { epochMatches, type HistoryResult, type Publication, type StreamPosition } from '../types.js';

export interface RecoveryResult {
  recovered: boolean;
  /** Ascending; empty unless recovered. */
  publications: Publication[];
  /** The stream's top at the time of the read. */
  top: StreamPosition;
}

export function evaluateRecovery(
  history: HistoryResult,
  since: StreamPosition,
  windowMs: number,
  now: number,
): RecoveryResult {
  const top = history.position;
  const fail: RecoveryResult = { recovered: false, publications: [], top };
  if (!epochMatches(since.epoch, top.epoch)) return fail;
  if (since.offset > top.offset) return fail;
  if (since.offset === top.offset) return { recovered: true, publications: [], top };
  const pubs = history.publications.filter((p) => p.offset > since.offset);
  const first = pubs[0];
  const last = pubs[pubs.length - 1];
  if (!first || !last || first.offset !== since.offset + 1 || last.offset !== top.offset) return fail;
  // Offsets must be contiguous: a store that lost an entry in the middle cannot recover.
  for (let i = 1; i < pubs.length; i++) if (pubs[i]!.offset !== pubs[i - 1]!.offset + 1) return fail;
  if (first.time !== undefined && now - first.time > windowMs) return fail;
  return { recovered: true, publications: pubs, top };
}
