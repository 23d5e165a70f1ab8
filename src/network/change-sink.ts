/**
 * The pulling side of replication on one link: asks the source for its log after the stored
 * cursor, imports each chunk through the domain (one writer unit per chunk, the cursor in the
 * same transaction) and grants one credit per chunk imported. A serial gap is repaired by
 * pulling again from the stored cursor; anything else that fails an import (a hash mismatch, a
 * payload refused, an unknown type) stops the link with that error: never skipped.
 */
import { isMycelError } from '../errors.js';
import type { Change } from '../model/content.js';
import type { PeerCursor } from '../model/network.js';
import type { ChangesMessage, CreditMessage, PullMessage } from './protocol.js';

/** What the sink needs of the domain's ReplicationImport. */
export interface ChangeImporter {
  cursorOf(peerNodeId: string): Promise<PeerCursor>;
  importChunk(peerNodeId: string, changes: readonly Change[], options?: { filtered: boolean }): Promise<{ cursor: PeerCursor; imported: number; skipped: number; localSerial: number }>;
}

export interface ChangeSinkDeps {
  peerNodeId: string;
  importer: ChangeImporter;
  /** Chunks the source may send ahead (network.creditWindow). */
  window: number;
  send(message: PullMessage | CreditMessage): void;
  /** After each chunk imported: the cursor now, changes imported, the source's head and the last change's time. */
  onImported(cursor: PeerCursor, imported: number, head: number, lastCreatedAt: number): void;
  /** A gap was found and is being pulled again (reported, not fatal). */
  onGap(err: unknown): void;
  /** Import failed for good: the link must stop with this error. */
  onFatal(err: unknown): void;
}

/** Re-pulls allowed in a row before a gap is treated as the source's fault. */
const MAX_GAPS_IN_A_ROW = 5;

interface InFlight {
  message: ChangesMessage;
  generation: number;
  result: Promise<{ ok: true; value: Awaited<ReturnType<ChangeImporter['importChunk']>> } | { ok: false; err: unknown }>;
}

export class ChangeSink {
  readonly #deps: ChangeSinkDeps;
  /**
   * Imports started and not yet handled, in order. Each chunk is handed to the domain as it
   * arrives, so the Writer can commit several in one transaction (group commit); their results
   * are handled strictly in order.
   */
  readonly #inFlight: InFlight[] = [];
  #draining: Promise<void> | null = null;
  /** Bumped by every re-pull: imports started for an older pull are not looked at. */
  #generation = 0;
  /** After a re-pull: chunks of the old stream are dropped until the stream comes back to the cursor. */
  #resyncAfter: number | null = null;
  #stopped = false;
  #cursor: PeerCursor | null = null;
  /** Gaps in a row without progress; a source that never closes its gap is stopped. */
  #gapsInARow = 0;

  constructor(deps: ChangeSinkDeps) {
    this.#deps = deps;
  }

  get cursor(): PeerCursor | null {
    return this.#cursor;
  }

  /** Sends the first pull, from the stored cursor. */
  async start(): Promise<void> {
    await this.#pull();
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Starts importing a chunk; results are handled one at a time, in order. */
  receive(message: ChangesMessage): void {
    if (this.#stopped) return;
    const first = message.changes[0];
    if (this.#resyncAfter !== null) {
      // Still the old stream: its chunks start past the cursor. The new one starts at cursor+1.
      if (first !== undefined && first.serial > this.#resyncAfter + 1 && message.filtered !== true) return;
      this.#resyncAfter = null;
    }
    const result = this.#deps.importer.importChunk(this.#deps.peerNodeId, message.changes, { filtered: message.filtered === true }).then(
      (value) => ({ ok: true as const, value }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    this.#inFlight.push({ message, generation: this.#generation, result });
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = null;
    });
  }

  /** Resolves when every chunk received so far has been handled. */
  async idle(): Promise<void> {
    while (this.#draining) await this.#draining;
  }

  async #pull(): Promise<void> {
    const cursor = await this.#deps.importer.cursorOf(this.#deps.peerNodeId);
    this.#cursor = cursor;
    if (this.#stopped) return;
    this.#deps.send({ t: 'pull', after: { serial: cursor.serial, hash: cursor.hash }, credit: this.#deps.window });
  }

  async #drain(): Promise<void> {
    while (this.#inFlight.length > 0) {
      const item = this.#inFlight[0]!;
      const outcome = await item.result;
      this.#inFlight.shift();
      if (this.#stopped) return;
      if (item.generation !== this.#generation) continue;
      if (outcome.ok) {
        const result = outcome.value;
        this.#cursor = result.cursor;
        if (result.imported > 0 || result.skipped > 0) this.#gapsInARow = 0;
        const last = item.message.changes[item.message.changes.length - 1];
        this.#deps.onImported(result.cursor, result.imported, item.message.head, last?.createdAt ?? Date.now());
        this.#deps.send({ t: 'credit', n: 1 });
        continue;
      }
      const err = outcome.err;
      if (isMycelError(err) && err.code === 'REPLICATION_GAP') {
        if (++this.#gapsInARow > MAX_GAPS_IN_A_ROW) {
          this.#deps.onFatal(err);
          return;
        }
        this.#deps.onGap(err);
        // Everything started for this pull is stale; chunks still on the way are dropped until
        // the new stream starts at the cursor.
        this.#generation++;
        this.#resyncAfter = this.#cursor?.serial ?? 0;
        try {
          await this.#pull();
        } catch (pullErr) {
          this.#deps.onFatal(pullErr);
          return;
        }
        continue;
      }
      this.#deps.onFatal(err);
      return;
    }
  }
}
