import { MycelError } from '../errors.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { unstorableStringReason } from '../lib/json-limits.js';
import type { Change } from '../model/content.js';
import type { PeerCursor } from '../model/network.js';
import type { Storage, StorageReader } from '../storage/storage.js';
import { applyChange } from './apply.js';
import { changeHash, GENESIS_HASH } from './changelog.js';
import { ChunkChannels } from './chunk-channels.js';
import type { UnitOfWork, Writer } from './writer.js';

export type { PeerCursor } from '../model/network.js';

/*
 * Importing another node's change log (docs/network.md, "Applying changes"). The network
 * layer pulls chunks of a peer's log and hands each to importChunk, which runs as one unit of
 * the one Writer: apply each change (apply.ts, the code `mycel verify` replays with), append
 * it to this node's log keeping its origin, append the stream event of an imported post (so
 * realtime subscribers get it through the commit hook), and move the peer's cursor, all in
 * the same transaction. Whatever fails rolls the whole chunk back; nothing is skipped but
 * what this node already holds.
 */

export interface ImportResult {
  /** Where the import from this peer now stands (the peer's serial and hash). */
  cursor: PeerCursor;
  /** Changes applied and appended to this node's log. */
  imported: number;
  /** Changes already held: at or before the cursor, or in this log by origin (came another way, or this node's own). */
  skipped: number;
  /** This node's log head after the import. */
  localSerial: number;
}

export interface ImportOptions {
  /**
   * The peer sends only the changes of some channels (the link's channel permissions): its
   * serials have gaps and each change's prevHash is its predecessor's in the peer's full log,
   * which this node never sees. Then each change's own hash is checked and serials must
   * increase; without it, the chain is checked change by change.
   */
  filtered?: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HASH = /^[0-9a-f]{64}$/;

function positiveInteger(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0;
}

/**
 * The fields the chain check and the log need, before anything is hashed: a change from the
 * network is untrusted. Its payload is checked later by apply, against its type's schema.
 */
function checkShape(c: Change, index: number): void {
  const problem =
    c === null || typeof c !== 'object'
      ? 'is not an object'
      : !positiveInteger(c.serial)
        ? 'serial is not a positive integer'
        : typeof c.originNodeId !== 'string' || !UUID.test(c.originNodeId)
          ? 'originNodeId is not a lower-case UUID'
          : !positiveInteger(c.originSerial)
            ? 'originSerial is not a positive integer'
            : typeof c.type !== 'string'
              ? 'type is not a string'
              : !Number.isSafeInteger(c.payloadVersion)
                ? 'payloadVersion is not an integer'
                : c.payload === null || typeof c.payload !== 'object' || Array.isArray(c.payload)
                  ? 'payload is not an object'
                  : !Number.isSafeInteger(c.createdAt) || c.createdAt < 0
                    ? 'createdAt is not a time in ms'
                    : typeof c.prevHash !== 'string' || !HASH.test(c.prevHash) || typeof c.hash !== 'string' || !HASH.test(c.hash)
                      ? 'prevHash or hash is not 64 lower-case hex digits'
                      : null;
  if (problem !== null) {
    const serial = c !== null && typeof c === 'object' ? c.serial : undefined;
    throw new MycelError('CHANGE_INVALID', { index, serial, reason: problem }, `change ${String(serial ?? `#${index}`)} of the chunk: ${problem}`);
  }
}

function gap(expected: number, got: number): MycelError {
  return new MycelError('REPLICATION_GAP', { expected, got }, `expected the peer's change ${expected}, got ${got}`);
}

function mismatch(serial: number, reason: string): MycelError {
  return new MycelError('REPLICATION_HASH_MISMATCH', { serial, reason }, `the peer's change ${serial}: ${reason}`);
}

export class ReplicationImport {
  constructor(
    private readonly storage: Storage,
    private readonly writer: Writer,
    private readonly clock: () => number = Date.now,
  ) {}

  /** How far this node has imported `peerNodeId`'s log: serial 0 and the genesis hash before anything. */
  async cursorOf(peerNodeId: string): Promise<PeerCursor> {
    return cursorIn(this.storage, peerNodeId);
  }

  /**
   * Imports consecutive changes of the peer's log in one writer unit, all or nothing. Changes
   * at or before the cursor are dropped (a repeated chunk is a no-op); the first one after
   * must be cursor + 1 (REPLICATION_GAP); each must carry its hash and (unfiltered) link to
   * its predecessor (REPLICATION_HASH_MISMATCH); apply's CHANGE_INVALID / CHANGE_UNSUPPORTED
   * propagate. Resolves once the import is committed.
   */
  async importChunk(peerNodeId: string, changes: readonly Change[], options: ImportOptions = {}): Promise<ImportResult> {
    const filtered = options.filtered === true;
    // What needs no transaction is checked before queueing, off the writer's turn.
    const chunk = checkChunk(changes, filtered);
    return this.writer.run((unit) => importIntoUnit(unit, peerNodeId, chunk));
  }

  /** Records the peer's node profile (at hello). Local state: not in the change log. */
  async recordPeer(profile: { id: string; name: string; createdAt: number }): Promise<void> {
    if (typeof profile?.id !== 'string' || !UUID.test(profile.id)) {
      throw new MycelError('VALIDATION_FAILED', { field: 'node.id', reason: 'must be a lower-case UUID' }, 'node.id: must be a lower-case UUID');
    }
    if (typeof profile.name !== 'string' || profile.name.length === 0 || profile.name.length > 255 || unstorableStringReason(profile.name) !== null) {
      throw new MycelError('VALIDATION_FAILED', { field: 'node.name', reason: 'must be 1 to 255 characters' }, 'node.name: must be 1 to 255 characters');
    }
    if (!Number.isSafeInteger(profile.createdAt) || profile.createdAt < 0) {
      throw new MycelError('VALIDATION_FAILED', { field: 'node.createdAt', reason: 'must be a time in ms' }, 'node.createdAt: must be a time in ms');
    }
    const now = this.clock();
    await this.storage.transaction((tx) => tx.upsertPeer({ nodeId: profile.id, name: profile.name, createdAt: profile.createdAt }, now));
  }
}

/**
 * The checks of a chunk that need no transaction: each change's shape and hash, and the chain
 * inside the chunk (unfiltered: consecutive serials, each linking to the one before; filtered:
 * increasing serials). Its start against the cursor is checked in the unit.
 */
export function checkChunk(changes: readonly Change[], filtered: boolean): CheckedChunk {
  if (!Array.isArray(changes)) throw new MycelError('CHANGE_INVALID', { reason: 'changes is not an array' });
  changes.forEach(checkShape);
  const payloadJson = changes.map((c) => canonicalJson(c.payload));
  changes.forEach((c, i) => {
    if (changeHash(c.prevHash, c, payloadJson[i]) !== c.hash) throw mismatch(c.serial, 'the hash does not match the change');
    const prev = changes[i - 1];
    if (prev === undefined) return;
    if (filtered) {
      if (c.serial <= prev.serial) throw gap(prev.serial + 1, c.serial);
      return;
    }
    if (c.serial !== prev.serial + 1) throw gap(prev.serial + 1, c.serial);
    if (c.prevHash !== prev.hash) throw mismatch(c.serial, 'prevHash is not the hash of the change before it');
  });
  return { changes, filtered, payloadJson };
}

/** A chunk that passed checkChunk, with each payload's canonical JSON (hashed again when appended). */
export interface CheckedChunk {
  readonly changes: readonly Change[];
  readonly filtered: boolean;
  readonly payloadJson: readonly string[];
}

/**
 * The import itself, inside one unit of work (holding the change-log lock), of a chunk that
 * passed checkChunk: reads the cursor through the unit's transaction, drops what it already
 * covers, checks the start, applies and appends each change this log does not hold yet (with
 * the stream event of a post), and moves the cursor. Exported for the benchmark's bare-import
 * limit, which runs it over large transactions; everything else goes through importChunk.
 */
export async function importIntoUnit(unit: UnitOfWork, peerNodeId: string, chunk: CheckedChunk): Promise<ImportResult> {
  const { changes, filtered, payloadJson } = chunk;
  const tx = unit.tx;
  let cursor = await cursorIn(tx, peerNodeId);
  // Already imported (a chunk sent again after a reconnect); serials increase, so this is a
  // prefix of the chunk.
  let start = 0;
  while (start < changes.length && changes[start]!.serial <= cursor.serial) start++;
  let skipped = start;
  let imported = 0;
  const first = changes[start];
  if (first !== undefined && !filtered) {
    if (first.serial !== cursor.serial + 1) throw gap(cursor.serial + 1, first.serial);
    if (first.prevHash !== cursor.hash) throw mismatch(first.serial, 'prevHash is not the hash of the change before it');
  }
  const held = await heldByOrigin(tx, changes, start);
  // Apply reads each post's channel and writes its last seq: once per chunk and channel here.
  const channels = new ChunkChannels(tx);
  for (let i = start; i < changes.length; i++) {
    const c = changes[i]!;
    const known = held.get(c.originNodeId)!;
    if (known.has(c.originSerial)) {
      // Came another way (a sibling, a forwarded write), or this node's own change.
      skipped++;
    } else {
      const applied = await applyChange(channels.tx, c);
      await unit.appendImported(c, payloadJson[i], true);
      if (applied) {
        const channel = applied.channel ?? (await channels.tx.getChannel(applied.post.channelId));
        if (channel) await unit.appendStreamEvent(channel.name, applied.post);
      }
      // Held now: the same origin change twice in one chunk is skipped the second time.
      known.add(c.originSerial);
      imported++;
    }
    cursor = { peerNodeId, serial: c.serial, hash: c.hash };
  }
  await channels.flush();
  await tx.setPeerCursor(cursor, unit.now);
  return { cursor, imported, skipped, localSerial: unit.logHead.serial };
}

/**
 * The origin serials this log already holds among `changes` from `start`, by origin node: one
 * query per origin in the chunk (usually one or two), not one per change.
 */
async function heldByOrigin(tx: StorageReader, changes: readonly Change[], start: number): Promise<Map<string, Set<number>>> {
  const wanted = new Map<string, number[]>();
  for (let i = start; i < changes.length; i++) {
    const c = changes[i]!;
    const serials = wanted.get(c.originNodeId);
    if (serials === undefined) wanted.set(c.originNodeId, [c.originSerial]);
    else serials.push(c.originSerial);
  }
  const held = new Map<string, Set<number>>();
  for (const [origin, serials] of wanted) held.set(origin, await tx.heldOriginSerials(origin, serials));
  return held;
}

async function cursorIn(reader: Pick<StorageReader, 'getPeerCursor'>, peerNodeId: string): Promise<PeerCursor> {
  return (await reader.getPeerCursor(peerNodeId)) ?? { peerNodeId, serial: 0, hash: GENESIS_HASH };
}
