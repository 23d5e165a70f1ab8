// ChunkChannels (src/domain/chunk-channels.ts), on SQLite and PostgreSQL: an import unit's
// channel reads are answered from memory after the first, updates of channels read that way
// reach the database only at flush() (in the same transaction), and inserts, deletes and
// everything else go straight to the storage.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { ChunkChannels } from '../../src/domain/chunk-channels.js';
import type { Channel } from '../../src/model/content.js';
import { freshStorageEach, storageBackends } from '../helpers/storage.js';

const T0 = 1_764_800_000_000;

function channel(name: string): Channel {
  return { id: randomUUID(), name, namespace: name.split(':')[0]!, description: 'd', originNodeId: randomUUID(), createdAt: T0, updatedAt: T0, lastSeq: 0 };
}

for (const backend of storageBackends) {
  describe(`ChunkChannels on ${backend.name}`, () => {
    const fresh = freshStorageEach(backend);

    it('holds the updates of channels it read until flush, in the same transaction', async () => {
      const s = fresh.storage;
      const a = channel('chat:a');
      const b = channel('chat:b');
      await s.transaction(async (tx) => {
        await tx.insertChannel(a);
        await tx.insertChannel(b);
      });
      await s.transaction(async (tx) => {
        const chunk = new ChunkChannels(tx);
        const read = await chunk.tx.getChannel(a.id);
        assert.deepEqual(read, a);
        await chunk.tx.updateChannel({ ...read!, lastSeq: 1 });
        await chunk.tx.updateChannel({ ...read!, lastSeq: 2, description: 'new', updatedAt: T0 + 5 });
        // Answered from memory as the unit left it; the database has not seen it yet.
        assert.deepEqual(await chunk.tx.getChannel(a.id), { ...a, lastSeq: 2, description: 'new', updatedAt: T0 + 5 });
        assert.deepEqual(await tx.getChannel(a.id), a);
        // A channel not read through it is written at once.
        await chunk.tx.updateChannel({ ...b, lastSeq: 7 });
        assert.equal((await tx.getChannel(b.id))!.lastSeq, 7);
        await chunk.flush();
        assert.deepEqual(await tx.getChannel(a.id), { ...a, lastSeq: 2, description: 'new', updatedAt: T0 + 5 });
      });
      assert.equal((await s.getChannel(a.id))!.lastSeq, 2);
    });

    it('forgets a deleted channel and reads an inserted one back as stored; other calls pass through', async () => {
      const s = fresh.storage;
      const a = channel('chat:a');
      const c = channel('chat:c');
      await s.transaction((tx) => tx.insertChannel(a));
      await s.transaction(async (tx) => {
        const chunk = new ChunkChannels(tx);
        const read = await chunk.tx.getChannel(a.id);
        await chunk.tx.updateChannel({ ...read!, lastSeq: 3 });
        await chunk.tx.deleteChannel(a.id);
        assert.equal(await chunk.tx.getChannel(a.id), null);
        assert.equal(await tx.getChannel(a.id), null);
        // Unknown before it is inserted, the stored row after.
        assert.equal(await chunk.tx.getChannel(c.id), null);
        await chunk.tx.insertChannel({ ...c, name: 'chat:c-local', originName: 'chat:c' });
        assert.equal((await chunk.tx.getChannel(c.id))!.name, 'chat:c-local');
        // The rest of the transaction is the storage's own.
        assert.equal((await chunk.tx.readChangeHead()).serial, 0);
        await chunk.flush();
      });
      assert.equal(await s.getChannel(a.id), null);
      assert.equal((await s.getChannel(c.id))!.name, 'chat:c-local');
    });
  });
}
