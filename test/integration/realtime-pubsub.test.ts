/**
 * Publications, history, recovery, presence and join/leave with the real `centrifuge` client,
 * against every realtime back-end (memory and Redis), including two instances on one back-end
 * (a client on A receives B's publications, presence spans both, a client that leaves A
 * recovers on B).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Centrifuge, Subscription as ClientSubscription } from 'centrifuge';
import { ERRORS } from '../../src/realtime/protocol/codes.js';
import { realtimeBackends, waitUntil, type RealtimeBackend } from '../helpers/realtime-backends.js';
import { collect, sign, startRealtime, waitEvent, waitUntilEvent, type RealtimeServer } from './realtime-harness.js';

interface SubscribedCtx {
  recovered: boolean;
  wasRecovering: boolean;
  recoverable: boolean;
  positioned: boolean;
  streamPosition?: { offset: number; epoch: string };
}

interface PubCtx {
  data: unknown;
  offset?: number;
  info?: { user: string; client: string; connInfo?: unknown; chanInfo?: unknown };
}

function connected(c: Centrifuge): Promise<unknown> {
  return waitEvent(c, 'connected');
}

function subscribed(s: ClientSubscription, timeoutMs = 5000): Promise<SubscribedCtx> {
  return waitEvent<SubscribedCtx>(s, 'subscribed', () => true, timeoutMs);
}

for (const factory of realtimeBackends) {
  describe(`realtime pub/sub, history, recovery, presence (${factory.name})`, () => {
    let backend: RealtimeBackend;
    const servers: RealtimeServer[] = [];

    async function start(options: Omit<Parameters<typeof startRealtime>[0], 'backend'> = {}, instance = backend): Promise<RealtimeServer> {
      const s = await startRealtime({ backend: instance, ...options });
      servers.push(s);
      return s;
    }

    beforeEach(async () => {
      backend = await factory.create();
    });
    afterEach(async () => {
      for (const s of servers.splice(0)) await s.close();
      await backend.cleanup();
    });

    it('3. publish round trip: data, offset and the publisher info reach subscribers', async () => {
      const server = await start();
      const reader = server.client({ token: await sign({ sub: 'reader' }) });
      const writer = server.client({ token: await sign({ sub: 'writer', info: { name: 'W' } }) });
      const rs = reader.newSubscription('chat:room');
      const pubs = collect<PubCtx>(rs, 'publication');
      rs.subscribe();
      reader.connect();
      writer.connect();
      await Promise.all([subscribed(rs), connected(writer)]);
      await writer.publish('chat:room', { text: 'hello' });
      await server.node.publish('chat:room', { text: 'from the server' });
      await waitUntilEvent(rs, 'publication', () => pubs.length === 2);
      assert.deepEqual(pubs[0]!.data, { text: 'hello' });
      assert.equal(pubs[0]!.offset, 1);
      assert.equal(pubs[0]!.info?.user, 'writer');
      assert.deepEqual(pubs[0]!.info?.connInfo, { name: 'W' });
      assert.equal(typeof pubs[0]!.info?.client, 'string');
      assert.deepEqual(pubs[1]!.data, { text: 'from the server' });
      assert.equal(pubs[1]!.offset, 2);
      assert.equal(pubs[1]!.info, undefined);

      // A subscribed publisher gets its own publication; a history-less channel has no offsets.
      const ws = writer.newSubscription('nohist:x');
      const own = collect<PubCtx>(ws, 'publication');
      ws.subscribe();
      await subscribed(ws);
      await ws.publish({ me: true });
      await waitUntilEvent(ws, 'publication', () => own.length === 1);
      assert.equal(own[0]!.offset, undefined);
      // Denied publish: namespace `closed` allows nobody.
      await assert.rejects(writer.publish('closed:x', {}), (e: { code: number }) => e.code === ERRORS.permissionDenied.code);
    });

    it('7. recovery: 3 missed publications come back with recovered: true; a wrong epoch gives recovered: false', async () => {
      const server = await start();
      const token = await sign({ sub: 'rita' });
      const c = server.client({ token });
      const s = c.newSubscription('chat:rec');
      const pubs = collect<PubCtx>(s, 'publication');
      s.subscribe();
      c.connect();
      const first = await subscribed(s);
      assert.equal(first.recoverable, true);
      assert.equal(first.wasRecovering, false);
      await server.node.publish('chat:rec', { n: 1 });
      await waitUntilEvent(s, 'publication', () => pubs.length === 1);

      const gone = waitEvent(c, 'disconnected');
      c.disconnect();
      await gone;
      for (const n of [2, 3, 4]) await server.node.publish('chat:rec', { n });
      const again = subscribed(s);
      c.connect();
      const ctx = await again;
      assert.equal(ctx.wasRecovering, true);
      assert.equal(ctx.recovered, true);
      await waitUntilEvent(s, 'publication', () => pubs.length === 4);
      assert.deepEqual(pubs.map((p) => p.offset), [1, 2, 3, 4]);
      assert.deepEqual(pubs.map((p) => p.data), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
      // Live publications continue after the recovered ones.
      await server.node.publish('chat:rec', { n: 5 });
      await waitUntilEvent(s, 'publication', () => pubs.length === 5);
      assert.equal(pubs[4]!.offset, 5);

      const wrong = c.newSubscription('chat:rec2', { since: { offset: 1, epoch: 'not-the-epoch' } });
      const wrongPubs = collect<PubCtx>(wrong, 'publication');
      wrong.subscribe();
      const failed = await subscribed(wrong);
      assert.equal(failed.wasRecovering, true);
      assert.equal(failed.recovered, false);
      assert.equal(wrongPubs.length, 0);

      // With getState the client asks for 112 instead, reloads its state, and subscribes from there.
      await server.node.publish('chat:rec3', { n: 1 });
      let states = 0;
      const strict = c.newSubscription('chat:rec3', {
        since: { offset: 1, epoch: 'not-the-epoch' },
        getState: async () => {
          states++;
          const h = await server.node.history('chat:rec3', { limit: 0 });
          return { offset: h.position.offset, epoch: h.position.epoch };
        },
      });
      strict.subscribe();
      const ok = await subscribed(strict);
      assert.equal(ok.recovered, true);
      assert.equal(states, 1);
    });

    it('7b. recovery outside the recovery window reports recovered: false', async () => {
      const server = await start({ realtime: { recoveryWindowSeconds: 1 } });
      const c = server.client({ token: await sign({ sub: 'sven' }) });
      const s = c.newSubscription('chat:window');
      s.subscribe();
      c.connect();
      await subscribed(s);
      const gone = waitEvent(c, 'disconnected');
      c.disconnect();
      await gone;
      const publishedAt = Date.now();
      await server.node.publish('chat:window', { late: true });
      // The window is a clock condition: wait until the missed publication is older than it.
      await waitUntil(async () => Date.now() - publishedAt > 1100, { timeoutMs: 3000, what: 'window to pass' });
      const again = subscribed(s);
      c.connect();
      const ctx = await again;
      assert.equal(ctx.wasRecovering, true);
      assert.equal(ctx.recovered, false);
    });

    it('10. history: limit 0 / n / -1, reverse, since, and 112 for another epoch', async () => {
      const server = await start();
      const c = server.client({ token: await sign({ sub: 'hugo' }) });
      c.connect();
      await connected(c);
      for (let n = 1; n <= 5; n++) await server.node.publish('chat:hist', { n });
      const position = await c.history('chat:hist', { limit: 0 });
      assert.equal(position.offset, 5);
      assert.equal(position.publications.length, 0);
      const epoch = position.epoch;
      assert.ok(epoch);
      const firstTwo = await c.history('chat:hist', { limit: 2 });
      assert.deepEqual(firstTwo.publications.map((p) => p.data), [{ n: 1 }, { n: 2 }]);
      const lastTwo = await c.history('chat:hist', { limit: 2, reverse: true });
      assert.deepEqual(lastTwo.publications.map((p) => p.data), [{ n: 5 }, { n: 4 }]);
      const all = await c.history('chat:hist', { limit: -1 });
      assert.deepEqual(all.publications.map((p) => p.offset), [1, 2, 3, 4, 5]);
      const since = await c.history('chat:hist', { limit: -1, since: { offset: 3, epoch } });
      assert.deepEqual(since.publications.map((p) => p.offset), [4, 5]);
      await assert.rejects(c.history('chat:hist', { limit: 10, since: { offset: 3, epoch: 'other' } }), (e: { code: number }) => e.code === ERRORS.unrecoverablePosition.code);
      await assert.rejects(c.history('nohist:x', { limit: 1 }), (e: { code: number }) => e.code === ERRORS.notAvailable.code);
      // Server API view of the same stream.
      const api = await server.node.history('chat:hist', { limit: 1, reverse: true });
      assert.equal(api.position.offset, 5);
      assert.deepEqual(api.publications.map((p) => p.data), [{ n: 5 }]);
      await server.node.removeHistory('chat:hist');
      const removed = await c.history('chat:hist', { limit: -1 });
      assert.equal(removed.publications.length, 0);
      assert.equal(removed.offset, 5);
      assert.equal(removed.epoch, epoch);
    });

    it('10. presence and presence_stats; entries leave with their clients', async () => {
      const server = await start();
      const a1 = server.client({ token: await sign({ sub: 'amy', info: { color: 'red' } }) });
      const a2 = server.client({ token: await sign({ sub: 'amy' }) });
      const b = server.client({ token: await sign({ sub: 'ben' }) });
      const subs = [a1, a2, b].map((c) => c.newSubscription('chat:here'));
      for (const s of subs) s.subscribe();
      for (const c of [a1, a2, b]) c.connect();
      await Promise.all(subs.map((s) => subscribed(s)));
      const presence = await b.presence('chat:here');
      assert.equal(Object.keys(presence.clients).length, 3);
      const amy = Object.values(presence.clients).find((i) => i.user === 'amy' && i.connInfo);
      assert.deepEqual(amy?.connInfo, { color: 'red' });
      const stats = await b.presenceStats('chat:here');
      assert.deepEqual({ c: stats.numClients, u: stats.numUsers }, { c: 3, u: 2 });
      assert.deepEqual((await server.node.userChannels('amy')).sort(), ['chat:here']);

      a2.disconnect();
      await waitUntil(async () => (await server.node.presenceStats('chat:here')).numClients === 2, { what: 'presence removal' });
      await assert.rejects(b.presence('nopresence:x'), (e: { code: number }) => e.code === ERRORS.notAvailable.code);
      await server.node.updateUserInfo('chat:here', 'amy', { connInfo: { color: 'blue' } });
      const updated = await server.node.presence('chat:here');
      assert.deepEqual(Object.values(updated).find((i) => i.user === 'amy')?.connInfo, { color: 'blue' });
      assert.deepEqual(await server.node.removeUserPresence('amy'), ['chat:here']);
      assert.equal((await server.node.presenceStats('chat:here')).numUsers, 1);
    });

    it('11. join/leave pushes reach subscribers that asked for them', async () => {
      const server = await start();
      const watcher = server.client({ token: await sign({ sub: 'wendy' }) });
      const ws = watcher.newSubscription('chat:jl', { joinLeave: true });
      const joins = collect<{ info: { user: string } }>(ws, 'join');
      const leaves = collect<{ info: { user: string } }>(ws, 'leave');
      ws.subscribe();
      watcher.connect();
      await subscribed(ws);
      await waitUntilEvent(ws, 'join', () => joins.find((j) => j.info.user === 'wendy'));
      const visitor = server.client({ token: await sign({ sub: 'victor' }) });
      const vs = visitor.newSubscription('chat:jl');
      vs.subscribe();
      visitor.connect();
      await subscribed(vs);
      await waitUntilEvent(ws, 'join', () => joins.find((j) => j.info.user === 'victor'));
      vs.unsubscribe();
      await waitUntilEvent(ws, 'leave', () => leaves.find((l) => l.info.user === 'victor'));
      // Nobody asked: no pushes to the visitor's own subscription.
      const quiet = collect(vs, 'join');
      assert.equal(quiet.length, 0);
    });

    it('two instances: publications cross, presence spans both, a client moving from A to B recovers', async () => {
      const a = await start({ tuning: { nodeInfoIntervalMs: 200 } });
      const peer = await backend.createPeer();
      const b = await start({ tuning: { nodeInfoIntervalMs: 200 } }, peer as RealtimeBackend);
      const onA = a.client({ token: await sign({ sub: 'ann' }) });
      const onB = b.client({ token: await sign({ sub: 'bob' }) });
      const sa = onA.newSubscription('chat:x');
      const sb = onB.newSubscription('chat:x');
      const pubsA = collect<PubCtx>(sa, 'publication');
      sa.subscribe();
      sb.subscribe();
      onA.connect();
      onB.connect();
      await Promise.all([subscribed(sa), subscribed(sb)]);
      await sb.publish({ from: 'B' });
      await waitUntilEvent(sa, 'publication', () => pubsA.length === 1);
      assert.deepEqual(pubsA[0]!.data, { from: 'B' });
      assert.equal(pubsA[0]!.info?.user, 'bob');
      const presence = await a.node.presence('chat:x');
      assert.deepEqual(Object.values(presence).map((i) => i.user).sort(), ['ann', 'bob']);

      // ann leaves A at offset 1; two publications later she subscribes on B from that position.
      const gone = waitEvent(onA, 'disconnected');
      onA.disconnect();
      await gone;
      const epoch = (await a.node.history('chat:x', { limit: 0 })).position.epoch;
      await a.node.publish('chat:x', { n: 2 });
      await b.node.publish('chat:x', { n: 3 });
      const moved = b.client({ token: await sign({ sub: 'ann' }) });
      const ms = moved.newSubscription('chat:x', { since: { offset: 1, epoch } });
      const movedPubs = collect<PubCtx>(ms, 'publication');
      ms.subscribe();
      moved.connect();
      const ctx = await subscribed(ms);
      assert.equal(ctx.recovered, true);
      await waitUntilEvent(ms, 'publication', () => movedPubs.length === 2);
      assert.deepEqual(movedPubs.map((p) => p.offset), [2, 3]);

      // Server-side user operations reach the other instance's connections.
      const disconnected = waitEvent<{ code: number }>(onB, 'disconnected');
      await a.node.disconnectUser('bob');
      assert.equal((await disconnected).code, 3503);
      await waitUntil(async () => a.node.info().nodes.length === 2, { timeoutMs: 3000, what: 'node info from the peer' });
      const peerInfo = a.node.info().nodes.find((n) => n.uid === b.node.instanceId);
      assert.equal(peerInfo?.numClients, 1, 'the peer announced its one client (moved ann)');

      // `channels` is the cluster's view: a channel only B has, and counts summed over both.
      const onlyB = b.client({ token: await sign({ sub: 'cy' }) });
      const sOnlyB = onlyB.newSubscription('chat:only-b');
      const sAlsoA = onlyB.newSubscription('chat:x');
      sOnlyB.subscribe();
      sAlsoA.subscribe();
      onlyB.connect();
      await Promise.all([subscribed(sOnlyB), subscribed(sAlsoA)]);
      const again = a.client({ token: await sign({ sub: 'dee' }) });
      const sAgain = again.newSubscription('chat:x');
      sAgain.subscribe();
      again.connect();
      await subscribed(sAgain);
      assert.deepEqual(a.node.channels(), { 'chat:x': { numClients: 1 } }, 'A alone knows only its own');
      assert.deepEqual(await a.node.clusterChannels(), { 'chat:x': { numClients: 3 }, 'chat:only-b': { numClients: 1 } });
      assert.deepEqual(await a.node.clusterChannels('chat:only*'), { 'chat:only-b': { numClients: 1 } });
      assert.deepEqual(await b.node.clusterChannels(), { 'chat:x': { numClients: 3 }, 'chat:only-b': { numClients: 1 } });
    });
  });
}
