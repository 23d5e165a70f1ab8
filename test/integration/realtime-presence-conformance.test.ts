/** The PresenceStore contract (src/realtime/presence-store.ts), run against every implementation. */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientInfo } from '../../src/realtime/types.js';
import { realtimeBackends, waitUntil, type RealtimeBackend } from '../helpers/realtime-backends.js';

const TTL = 60;

function info(user: string, client: string, extra: Partial<ClientInfo> = {}): ClientInfo {
  return { user, client, ...extra };
}

for (const factory of realtimeBackends) {
  describe(`PresenceStore conformance: ${factory.name}`, () => {
    let backend: RealtimeBackend;

    beforeEach(async () => {
      backend = await factory.create();
    });

    afterEach(async () => {
      await backend.cleanup();
    });

    it('add lists clients with their info; an empty channel lists none', async () => {
      const p = backend.presence;
      assert.deepEqual(await p.presence('chat:p'), {});
      assert.deepEqual(await p.stats('chat:p'), { numClients: 0, numUsers: 0 });
      const a = info('u1', 'c1', { connInfo: { name: 'Ann', tags: [] }, chanInfo: { role: 'mod' } });
      const b = info('u2', 'c2');
      const c = info('u3', 'c3', { connInfo: null });
      await p.add('chat:p', a, TTL);
      await p.add('chat:p', b, TTL);
      await p.add('chat:p', c, TTL);
      assert.deepEqual(await p.presence('chat:p'), { c1: a, c2: b, c3: c });
      assert.deepEqual(await p.stats('chat:p'), { numClients: 3, numUsers: 3 });
      assert.deepEqual(await p.presence('chat:other'), {});
    });

    it('add again refreshes and replaces the info without a duplicate', async () => {
      const p = backend.presence;
      await p.add('chat:p', info('u1', 'c1', { connInfo: { v: 1 }, chanInfo: 'x' }), TTL);
      await p.add('chat:p', info('u1', 'c1', { connInfo: { v: 2 } }), TTL);
      assert.deepEqual(await p.presence('chat:p'), { c1: info('u1', 'c1', { connInfo: { v: 2 } }) });
      assert.deepEqual(await p.stats('chat:p'), { numClients: 1, numUsers: 1 });
    });

    it('remove removes only that client, from that channel', async () => {
      const p = backend.presence;
      await p.add('chat:a', info('u1', 'c1'), TTL);
      await p.add('chat:a', info('u2', 'c2'), TTL);
      await p.add('chat:b', info('u1', 'c1'), TTL);
      await p.remove('chat:a', 'c1', 'u1');
      assert.deepEqual(await p.presence('chat:a'), { c2: info('u2', 'c2') });
      assert.deepEqual(await p.presence('chat:b'), { c1: info('u1', 'c1') });
      assert.deepEqual(await p.userChannels('u1'), ['chat:b']);
      // Removing what is not there is not an error.
      await p.remove('chat:a', 'c1', 'u1');
      await p.remove('chat:none', 'cX', 'uX');
      assert.deepEqual(await p.stats('chat:a'), { numClients: 1, numUsers: 1 });
    });

    it('stats count clients and distinct users', async () => {
      const p = backend.presence;
      await p.add('chat:s', info('u1', 'c1'), TTL);
      await p.add('chat:s', info('u1', 'c2'), TTL);
      await p.add('chat:s', info('u1', 'c3'), TTL);
      await p.add('chat:s', info('u2', 'c4'), TTL);
      assert.deepEqual(await p.stats('chat:s'), { numClients: 4, numUsers: 2 });
      await p.remove('chat:s', 'c1', 'u1');
      await p.remove('chat:s', 'c2', 'u1');
      assert.deepEqual(await p.stats('chat:s'), { numClients: 2, numUsers: 2 });
      await p.remove('chat:s', 'c3', 'u1');
      assert.deepEqual(await p.stats('chat:s'), { numClients: 1, numUsers: 1 });
      // A client id that comes back under another user moves to that user.
      await p.add('chat:s', info('u3', 'c4'), TTL);
      assert.deepEqual(await p.stats('chat:s'), { numClients: 1, numUsers: 1 });
      assert.deepEqual(await p.userChannels('u2'), []);
      assert.deepEqual(await p.userChannels('u3'), ['chat:s']);
    });

    it("updateUserInfo replaces the info of all the user's clients in that channel only", async () => {
      const p = backend.presence;
      await p.add('chat:u', info('u1', 'c1', { connInfo: { v: 1 }, chanInfo: { r: 'a' } }), TTL);
      await p.add('chat:u', info('u1', 'c2', { connInfo: { v: 1 } }), TTL);
      await p.add('chat:u', info('u2', 'c3', { connInfo: { v: 1 } }), TTL);
      await p.add('chat:other', info('u1', 'c1', { connInfo: { v: 1 } }), TTL);

      await p.updateUserInfo('chat:u', 'u1', { connInfo: { v: 2, list: [] } });
      assert.deepEqual(await p.presence('chat:u'), {
        c1: info('u1', 'c1', { connInfo: { v: 2, list: [] }, chanInfo: { r: 'a' } }),
        c2: info('u1', 'c2', { connInfo: { v: 2, list: [] } }),
        c3: info('u2', 'c3', { connInfo: { v: 1 } }),
      });
      await p.updateUserInfo('chat:u', 'u1', { chanInfo: 'new' });
      assert.deepEqual((await p.presence('chat:u')).c2, info('u1', 'c2', { connInfo: { v: 2, list: [] }, chanInfo: 'new' }));
      assert.deepEqual(await p.presence('chat:other'), { c1: info('u1', 'c1', { connInfo: { v: 1 } }) });
      // A user without clients there: nothing happens, nothing appears.
      await p.updateUserInfo('chat:u', 'u9', { connInfo: 1 });
      assert.deepEqual(Object.keys(await p.presence('chat:u')).sort(), ['c1', 'c2', 'c3']);
    });

    it('userChannels lists the channels where the user has a live client', async () => {
      const p = backend.presence;
      assert.deepEqual(await p.userChannels('u1'), []);
      await p.add('chat:b', info('u1', 'c1'), TTL);
      await p.add('chat:a', info('u1', 'c1'), TTL);
      await p.add('chat:a', info('u1', 'c2'), TTL);
      await p.add('chat:c', info('u2', 'c3'), TTL);
      assert.deepEqual(await p.userChannels('u1'), ['chat:a', 'chat:b']);
      await p.remove('chat:a', 'c1', 'u1');
      assert.deepEqual(await p.userChannels('u1'), ['chat:a', 'chat:b']);
      await p.remove('chat:a', 'c2', 'u1');
      assert.deepEqual(await p.userChannels('u1'), ['chat:b']);
      assert.deepEqual(await p.userChannels('u2'), ['chat:c']);
    });

    it('removeUser removes all of the user’s clients everywhere and returns the channels', async () => {
      const p = backend.presence;
      await p.add('chat:a', info('u1', 'c1'), TTL);
      await p.add('chat:a', info('u1', 'c2'), TTL);
      await p.add('chat:b', info('u1', 'c1'), TTL);
      await p.add('chat:b', info('u2', 'c3'), TTL);
      assert.deepEqual(await p.removeUser('u1'), ['chat:a', 'chat:b']);
      assert.deepEqual(await p.presence('chat:a'), {});
      assert.deepEqual(await p.presence('chat:b'), { c3: info('u2', 'c3') });
      assert.deepEqual(await p.stats('chat:b'), { numClients: 1, numUsers: 1 });
      assert.deepEqual(await p.userChannels('u1'), []);
      assert.deepEqual(await p.removeUser('u1'), []);
      assert.deepEqual(await p.userChannels('u2'), ['chat:b']);
    });

    it('entries expire after their TTL unless refreshed', async () => {
      const p = backend.presence;
      await p.add('chat:e', info('u1', 'c1'), 1);
      await p.add('chat:e', info('u2', 'c2'), 1);
      await p.add('chat:e', info('u3', 'c3'), TTL);
      await p.add('chat:f', info('u1', 'c1'), 1);
      const started = Date.now();
      // c2 is refreshed on a heartbeat (as the Hub does); c1 is not.
      await waitUntil(
        async () => {
          await p.add('chat:e', info('u2', 'c2'), 1);
          const present = await p.presence('chat:e');
          return !('c1' in present);
        },
        { timeoutMs: 6_000, intervalMs: 200, what: 'c1 to expire' },
      );
      assert.ok(Date.now() - started >= 500, 'expired too early');
      assert.deepEqual(Object.keys(await p.presence('chat:e')).sort(), ['c2', 'c3']);
      assert.deepEqual(await p.stats('chat:e'), { numClients: 2, numUsers: 2 });
      await waitUntil(async () => (await p.userChannels('u1')).length === 0, { timeoutMs: 3_000, what: 'u1 to have no channels' });
      assert.deepEqual(await p.presence('chat:f'), {});
      assert.deepEqual(await p.userChannels('u2'), ['chat:e']);
      assert.deepEqual(await p.removeUser('u1'), []);
    });

    it('another instance sees the same presence', async () => {
      const peer = await backend.createPeer();
      await backend.presence.add('chat:x', info('u1', 'c1', { connInfo: { on: 'a' } }), TTL);
      await peer.presence.add('chat:x', info('u2', 'c2', { connInfo: { on: 'b' } }), TTL);
      const expected = { c1: info('u1', 'c1', { connInfo: { on: 'a' } }), c2: info('u2', 'c2', { connInfo: { on: 'b' } }) };
      assert.deepEqual(await backend.presence.presence('chat:x'), expected);
      assert.deepEqual(await peer.presence.presence('chat:x'), expected);
      assert.deepEqual(await peer.presence.removeUser('u1'), ['chat:x']);
      assert.deepEqual(await backend.presence.stats('chat:x'), { numClients: 1, numUsers: 1 });
    });

    it('fails with SHUTTING_DOWN after close; invalid TTLs are refused', async () => {
      await assert.rejects(backend.presence.add('chat:z', info('u1', 'c1'), 0), { code: 'VALIDATION_FAILED' });
      await backend.presence.close();
      await assert.rejects(backend.presence.add('chat:z', info('u1', 'c1'), TTL), { code: 'SHUTTING_DOWN' });
      await assert.rejects(backend.presence.presence('chat:z'), { code: 'SHUTTING_DOWN' });
    });

    it('handles channel and client names with separators', async () => {
      const p = backend.presence;
      const odd = info('user:1.2', 'cl:i.ent:9', { connInfo: 'x' });
      await p.add('ns:chan.nel:with:colons', odd, TTL);
      await p.add('ns:chan', info('user:1.2', 'cl', { connInfo: 'y' }), TTL);
      assert.deepEqual(await p.presence('ns:chan.nel:with:colons'), { 'cl:i.ent:9': odd });
      assert.deepEqual(await p.userChannels('user:1.2'), ['ns:chan', 'ns:chan.nel:with:colons']);
      assert.deepEqual(await p.removeUser('user:1.2'), ['ns:chan', 'ns:chan.nel:with:colons']);
    });
  });
}
