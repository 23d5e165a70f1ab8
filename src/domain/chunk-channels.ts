import type { Channel } from '../model/content.js';
import type { StorageTx } from '../storage/storage.js';

/*
 * The channels one import unit reads and writes, kept in memory until the unit ends. A chunk of
 * another node's log is mostly posts, usually of a few channels, and applying each post reads
 * its channel and writes the channel's last seq (apply.ts). Here the first read of a channel
 * goes to the database and the later ones are answered from memory; updates of a channel read
 * this way are held and written once, by flush(), before the unit moves the peer's cursor —
 * in the same transaction, so what commits is what the change-by-change path would have
 * written. Everything else of the transaction passes through unchanged.
 */

/** What a channel update writes (the storage's updateChannel): the rest of a channel never changes. */
function updated(held: Channel, c: Channel): Channel {
  return { ...held, description: c.description, updatedAt: c.updatedAt, lastSeq: c.lastSeq };
}

export class ChunkChannels {
  /** Channels read in this unit, as the unit has left them; null: read and not there (or deleted here). */
  readonly #held = new Map<string, Channel | null>();
  /** Ids of held channels updated in memory and not written yet. */
  readonly #pending = new Set<string>();
  readonly #tx: StorageTx;
  /** The transaction as apply sees it: channel reads and updates go through this object. */
  readonly tx: StorageTx;

  constructor(tx: StorageTx) {
    this.#tx = tx;
    const overrides: Partial<StorageTx> = {
      getChannel: (id) => this.#get(id),
      updateChannel: (c) => this.#update(c),
      insertChannel: async (c) => {
        await tx.insertChannel(c);
        // Read back when next asked: what is stored may differ from `c` (a local name).
        this.#held.delete(c.id);
      },
      deleteChannel: async (id) => {
        this.#pending.delete(id);
        this.#held.set(id, null);
        await tx.deleteChannel(id);
      },
    };
    this.tx = new Proxy(tx, {
      get(target, property) {
        if (Object.hasOwn(overrides, property)) return overrides[property as keyof StorageTx];
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  async #get(id: string): Promise<Channel | null> {
    if (this.#held.has(id)) return this.#held.get(id)!;
    const channel = await this.#tx.getChannel(id);
    this.#held.set(id, channel);
    return channel;
  }

  async #update(c: Channel): Promise<void> {
    const held = this.#held.get(c.id);
    if (held) {
      this.#held.set(c.id, updated(held, c));
      this.#pending.add(c.id);
      return;
    }
    // Not read through here (or gone): written at once, so the storage answers as it always does.
    await this.#tx.updateChannel(c);
  }

  /** Writes the updates held in memory; the unit calls it before it moves the cursor. */
  async flush(): Promise<void> {
    for (const id of this.#pending) {
      const channel = this.#held.get(id);
      if (channel) await this.#tx.updateChannel(channel);
    }
    this.#pending.clear();
  }
}
