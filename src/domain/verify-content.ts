import { MycelError } from '../errors.js';
import type { Storage, StorageReader } from '../storage/storage.js';
import { firstContentDifference, type ContentDifference } from './content-diff.js';
import { contentDigest, type ContentDigest } from './digest.js';
import { replayLog } from './replay.js';

export type ContentVerdict =
  | { ok: true; digest: ContentDigest; changes: number }
  | {
      ok: false;
      reason: string;
      /** The live tables' digest and the one rebuilt from the log (absent when the log could not be replayed). */
      live?: ContentDigest;
      rebuilt?: ContentDigest;
      /** The first entity on which they disagree: `left` is the live tables, `right` the log's. */
      difference?: ContentDifference;
      /** The serial that could not be applied, when replaying failed. */
      serial?: number;
    };

/** A node that writes during the check is caught up with this many times before giving up. */
const ATTEMPTS = 5;

/**
 * Checks that the entity tables are what the change log says: replays the whole log with the
 * apply code replication uses into `scratch` (an empty, migrated storage), then compares the
 * content digests of the live tables and the rebuilt ones, and on a mismatch names the first
 * entity that differs. A node may be serving meanwhile: every write moves the log head in the
 * same transaction as its rows, so a digest read while the head stayed put is of one state;
 * when the head moved, the rebuild catches up and the check runs again.
 */
export async function verifyContent(
  live: StorageReader,
  scratch: Storage,
  options: { onProgress?: (phase: 'replay' | 'compare', done: number) => void } = {},
): Promise<ContentVerdict> {
  let next = 1;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const head = await live.readChangeHead();
    try {
      next = await replayLog(live, scratch, { from: next, through: head.serial, onProgress: (n) => options.onProgress?.('replay', n) });
    } catch (err) {
      if (!(err instanceof MycelError) || (err.code !== 'CHANGE_INVALID' && err.code !== 'CHANGE_UNSUPPORTED')) throw err;
      const serial = err.details?.serial;
      return { ok: false, reason: `the log cannot be replayed: ${err.message}`, ...(typeof serial === 'number' ? { serial } : {}) };
    }
    options.onProgress?.('compare', head.serial);
    const liveDigest = await contentDigest(live);
    if ((await live.readChangeHead()).serial !== head.serial) continue;
    const rebuilt = await contentDigest(scratch);
    if (liveDigest.digest === rebuilt.digest) return { ok: true, digest: liveDigest, changes: head.serial };
    const difference = await firstContentDifference(live, scratch);
    // A write between the digest and this walk can make the walk find nothing (or another entity).
    if ((await live.readChangeHead()).serial !== head.serial) continue;
    const reason = difference
      ? `the tables differ from the log: ${describeDifference(difference)}`
      : 'the tables differ from the log';
    return { ok: false, reason, live: liveDigest, rebuilt, ...(difference ? { difference } : {}) };
  }
  return { ok: false, reason: `the node kept writing; no quiet moment to compare in ${ATTEMPTS} attempts` };
}

/** `post <id>: body differs`, `link <id>: missing from the tables`, … */
export function describeDifference(d: ContentDifference): string {
  const kind = d.kind.slice(0, -1);
  switch (d.problem) {
    case 'differs':
      return `${kind} ${d.id}: ${d.fields.join(', ')} ${d.fields.length === 1 ? 'differs' : 'differ'}`;
    case 'missing':
      return `${kind} ${d.id}: missing from the tables (the log has it)`;
    case 'extra':
      return `${kind} ${d.id}: in the tables but not in the log`;
  }
}
