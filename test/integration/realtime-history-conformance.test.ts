/** The HistoryStore contract (src/realtime/history-store.ts), run against every implementation. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BusMessage, HistoryOptions, HistoryQuery, Publication, StreamPosition } from '../../src/realtime/types.js';
import { realtimeBackends, type RealtimeBackend } from '../helpers/realtime-backends.js';

const HISTORY: HistoryOptions = { size: 100, ttlSeconds: 60, metaTtlSeconds: 300 };
const META_TTL = 300;

function pub(data: unknown): BusMessage {
  return { type: 'pub', publication: { offset: 0, data } };
}

function offsets(pubs: Publication[]): number[] {
  return pubs.map((p) => p.offset);
}

for (const factory of realtimeBackends) {
  describe(`HistoryStore conformance: ${factory.name}`, () => {
    let backend: RealtimeBackend;
    let epoch: string;

    /** Publishes data 1..n to a channel; returns the stream's epoch. */
    async function fill(channel: string, n: number): Promise<string> {
      let position: StreamPosition | null = null;
      for (let i = 1; i <= n; i++) position = await backend.bus.publish(channel, pub(i), HISTORY);
      return position!.epoch;
    }

    function query(q: Partial<HistoryQuery>): HistoryQuery {
      return { limit: -1, metaTtlSeconds: META_TTL, ...q };
    }

    beforeEach(async () => {
      backend = await factory.create();
      epoch = await fill('chat:h', 5);
    });

    afterEach(async () => {
      await backend.cleanup();
    });

    it('limit 0 returns the position only', async () => {
      const h = await backend.history.history('chat:h', query({ limit: 0 }));
      assert.deepEqual(h, { publications: [], position: { offset: 5, epoch } });
    });

    it('limit -1 returns everything kept, oldest first, with data and offsets', async () => {
      const h = await backend.history.history('chat:h', query({ limit: -1 }));
      assert.deepEqual(h.position, { offset: 5, epoch });
      assert.deepEqual(
        h.publications,
        [1, 2, 3, 4, 5].map((i) => ({ offset: i, data: i })),
      );
    });

    it('limit n returns the oldest n; reverse the newest n, newest first', async () => {
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ limit: 2 }))).publications), [1, 2]);
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ limit: 2, reverse: true }))).publications), [5, 4]);
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ limit: -1, reverse: true }))).publications), [5, 4, 3, 2, 1]);
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ limit: 50 }))).publications), [1, 2, 3, 4, 5]);
    });

    it('since returns what follows the position; reversed, what precedes it', async () => {
      const since = (offset: number, e = epoch) => ({ offset, epoch: e });
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ since: since(2) }))).publications), [3, 4, 5]);
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ since: since(2), limit: 2 }))).publications), [3, 4]);
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ since: since(0) }))).publications), [1, 2, 3, 4, 5]);
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ since: since(5) }))).publications), []);
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ since: since(9) }))).publications), []);
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ since: since(4), reverse: true }))).publications), [3, 2, 1]);
      assert.deepEqual(
        offsets((await backend.history.history('chat:h', query({ since: since(4), reverse: true, limit: 2 }))).publications),
        [3, 2],
      );
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({ since: since(1), reverse: true }))).publications), []);
      const withPosition = await backend.history.history('chat:h', query({ since: since(3), limit: 0 }));
      assert.deepEqual(withPosition, { publications: [], position: { offset: 5, epoch } });
    });

    it('since with another epoch yields no publications but the current position; an empty epoch means any', async () => {
      const other = await backend.history.history('chat:h', query({ since: { offset: 2, epoch: 'not-the-epoch' } }));
      assert.deepEqual(other, { publications: [], position: { offset: 5, epoch } });
      const any = await backend.history.history('chat:h', query({ since: { offset: 3, epoch: '' } }));
      assert.deepEqual(offsets(any.publications), [4, 5]);
    });

    it('since follows trimming: only what is still kept is returned', async () => {
      for (let i = 6; i <= 8; i++) await backend.bus.publish('chat:h', pub(i), { ...HISTORY, size: 4 });
      const h = await backend.history.history('chat:h', query({ since: { offset: 1, epoch } }));
      assert.deepEqual(offsets(h.publications), [5, 6, 7, 8]);
      assert.deepEqual(h.position, { offset: 8, epoch });
    });

    it('removeHistory drops the publications and keeps offset and epoch', async () => {
      await backend.history.removeHistory('chat:h');
      assert.deepEqual(await backend.history.history('chat:h', query({})), { publications: [], position: { offset: 5, epoch } });
      const next = await backend.bus.publish('chat:h', pub(6), HISTORY);
      assert.deepEqual(next, { offset: 6, epoch });
      assert.deepEqual(offsets((await backend.history.history('chat:h', query({}))).publications), [6]);
      // Removing an unknown channel's history is not an error.
      await backend.history.removeHistory('chat:never');
    });

    it('a read of a channel without a position creates one with a new epoch', async () => {
      const first = await backend.history.history('chat:fresh', query({}));
      assert.deepEqual(first.publications, []);
      assert.equal(first.position.offset, 0);
      assert.ok(first.position.epoch.length > 0);
      assert.notEqual(first.position.epoch, epoch);
      // The created position is kept: the same epoch on the next read and for the next publish.
      const again = await backend.history.history('chat:fresh', query({ limit: 0 }));
      assert.deepEqual(again.position, first.position);
      const published = await backend.bus.publish('chat:fresh', pub('x'), HISTORY);
      assert.deepEqual(published, { offset: 1, epoch: first.position.epoch });
    });

    it('when the position expires, reads and publishes start a new epoch from offset 0', async () => {
      const short: HistoryOptions = { size: 10, ttlSeconds: 0.2, metaTtlSeconds: 0.3 };
      const old = await backend.bus.publish('chat:exp', pub('a'), short);
      // Nothing signals an expiry, and every read refreshes the position's TTL, so each
      // attempt leaves the stream alone for longer than its TTL (bounded attempts).
      let renewed: StreamPosition | undefined;
      for (let attempt = 0; attempt < 10 && !renewed; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 400));
        const h = await backend.history.history('chat:exp', { limit: -1, metaTtlSeconds: 0.3 });
        if (h.position.epoch !== old!.epoch) {
          assert.deepEqual(h.publications, []);
          renewed = h.position;
        }
      }
      assert.ok(renewed, 'the position never expired');
      assert.equal(renewed.offset, 0);
      const next = await backend.bus.publish('chat:exp', pub('b'), HISTORY);
      assert.deepEqual(next, { offset: 1, epoch: renewed.epoch });
    });

    it('another instance reads the same history', async () => {
      const peer = await backend.createPeer();
      const h = await peer.history.history('chat:h', query({ limit: 2, reverse: true }));
      assert.deepEqual(h.position, { offset: 5, epoch });
      assert.deepEqual(offsets(h.publications), [5, 4]);
    });

    it('returns copies: changing a returned publication does not change history', async () => {
      const h = await backend.history.history('chat:h', query({ limit: 1 }));
      h.publications[0]!.data = 'changed';
      const again = await backend.history.history('chat:h', query({ limit: 1 }));
      assert.equal(again.publications[0]!.data, 1);
    });

    it('fails with SHUTTING_DOWN once its bus is closed', async () => {
      await backend.bus.close();
      await assert.rejects(backend.history.history('chat:h', query({})), { code: 'SHUTTING_DOWN' });
      await assert.rejects(backend.history.removeHistory('chat:h'), { code: 'SHUTTING_DOWN' });
    });

    it('rejects an invalid query', async () => {
      await assert.rejects(backend.history.history('chat:h', query({ limit: -2 })), { code: 'VALIDATION_FAILED' });
      await assert.rejects(backend.history.history('chat:h', query({ limit: 1.5 })), { code: 'VALIDATION_FAILED' });
      await assert.rejects(backend.history.history('chat:h', query({ metaTtlSeconds: 0 })), { code: 'VALIDATION_FAILED' });
    });
  });
}
