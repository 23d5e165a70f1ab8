import { canonicalJson } from '../lib/canonical-json.js';
import { sha256Hex } from '../lib/hash.js';
import type { StorageReader } from '../storage/storage.js';
import type { Change, ChangeDraft } from '../model/content.js';

/** The hash before the first change. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The fields a change's hash covers: everything but the hashes themselves, as canonical JSON.
 * `payloadJson`, when given, is canonicalJson(change.payload) computed earlier: replication
 * hashes each imported change twice (checking the peer's hash, then sealing it into this log)
 * and the payload is most of the work. The keys are written in canonical (sorted) order, and
 * changelog.test.ts holds this equal to canonicalJson of the whole record.
 */
function hashedFields(change: Omit<Change, 'hash' | 'prevHash'>, payloadJson?: string): string {
  if (payloadJson === undefined) {
    return canonicalJson({
      serial: change.serial,
      originNodeId: change.originNodeId,
      originSerial: change.originSerial,
      type: change.type,
      payloadVersion: change.payloadVersion,
      payload: change.payload,
      createdAt: change.createdAt,
    });
  }
  return (
    `{"createdAt":${canonicalJson(change.createdAt)},"originNodeId":${canonicalJson(change.originNodeId)},` +
    `"originSerial":${canonicalJson(change.originSerial)},"payload":${payloadJson},"payloadVersion":${canonicalJson(change.payloadVersion)},` +
    `"serial":${canonicalJson(change.serial)},"type":${canonicalJson(change.type)}}`
  );
}

/** hash = sha256(prevHash ‖ canonical(change)), hex. `payloadJson`: see hashedFields. */
export function changeHash(prevHash: string, change: Omit<Change, 'hash' | 'prevHash'>, payloadJson?: string): string {
  return sha256Hex(prevHash + hashedFields(change, payloadJson));
}

/** Turns a draft into the change that follows `head` in the log. `payloadJson`: see hashedFields. */
export function sealChange(head: { serial: number; hash: string }, draft: ChangeDraft, payloadJson?: string): Change {
  const serial = head.serial + 1;
  const unsealed = {
    serial,
    originNodeId: draft.originNodeId,
    originSerial: draft.originSerial ?? serial,
    type: draft.type,
    payloadVersion: draft.payloadVersion,
    payload: draft.payload,
    createdAt: draft.createdAt,
  };
  return { ...unsealed, prevHash: head.hash, hash: changeHash(head.hash, unsealed, payloadJson) };
}

export type ChainVerdict =
  | { ok: true; count: number; headHash: string }
  | { ok: false; count: number; firstBadSerial: number; reason: string };

/**
 * Walks the whole change log in pages and checks serials are gapless from 1, each change links
 * to the previous hash and each hash matches its content. Reports the first bad serial.
 */
export async function verifyChain(
  reader: StorageReader,
  options: { pageSize?: number; onProgress?: (checked: number) => void } = {},
): Promise<ChainVerdict> {
  const pageSize = options.pageSize ?? 2000;
  let expectedSerial = 1;
  let prevHash = GENESIS_HASH;
  for (;;) {
    const page = await reader.getChanges(expectedSerial, pageSize);
    for (const change of page) {
      const bad = (reason: string): ChainVerdict => ({ ok: false, count: expectedSerial - 1, firstBadSerial: expectedSerial, reason });
      if (change.serial !== expectedSerial) return bad(`serial ${expectedSerial} is missing (next is ${change.serial})`);
      if (change.prevHash !== prevHash) return bad('prev_hash does not match the previous change');
      if (changeHash(prevHash, change) !== change.hash) return bad('hash does not match the change content');
      prevHash = change.hash;
      expectedSerial++;
    }
    options.onProgress?.(expectedSerial - 1);
    if (page.length < pageSize) break;
  }
  const head = await reader.readChangeHead();
  if (head.serial !== expectedSerial - 1 || head.hash !== prevHash) {
    return { ok: false, count: expectedSerial - 1, firstBadSerial: expectedSerial - 1 || 1, reason: 'change head does not match the last change' };
  }
  return { ok: true, count: expectedSerial - 1, headHash: prevHash };
}
