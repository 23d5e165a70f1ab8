/**
 * Persisted namespaces on the real domain (SQLite and PostgreSQL, memory Bus): a client
 * publish is a post committed through the one write path before the publisher hears back;
 * subscribers receive it from the after-commit event (as they do a post written by the
 * domain directly); history and recovery read the database.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Centrifuge, Subscription as ClientSubscription } from 'centrifuge';
import { OWNER } from '../../src/domain/actor.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import type { Post } from '../../src/model/content.js';
import { ERRORS } from '../../src/realtime/protocol/codes.js';
import { storageBackends } from '../helpers/storage.js';
import { collect, sign, startRealtime, waitEvent, waitUntilEvent, type RealtimeServer } from './realtime-harness.js';
import { startPersisted, type PersistedRealtime } from './realtime-persisted.js';

const REALTIME = { namespaces: { posts: { persist: true, historySize: 100, joinLeave: false }, chat: {} } };

interface PubCtx {
  data: Post;
  offset?: number;
}

function subscribed(s: ClientSubscription): Promise<{ recovered: boolean; wasRecovering: boolean; streamPosition?: { offset: number; epoch: string } }> {
  return waitEvent(s, 'subscribed');
}

for (const storageBackend of storageBackends) {
  describe(`realtime persisted namespaces (${storageBackend.name})`, () => {
    let persisted: PersistedRealtime<RealtimeServer>;
    let core: NodeCore;
    let server: RealtimeServer;

    beforeEach(async () => {
      persisted = await startPersisted(storageBackend, REALTIME, (backend, persist) => startRealtime({ backend, realtime: REALTIME, persist }));
      ({ core, server } = persisted);
    });
    afterEach(() => persisted.close());

    it('a publish creates a post in storage, is acknowledged after commit, and reaches subscribers from the commit', async () => {
      const reader = server.client({ token: await sign({ sub: 'reader' }) });
      const writer: Centrifuge = server.client({ token: await sign({ sub: 'alice' }) });
      const rs = reader.newSubscription('posts:general');
      const pubs = collect<PubCtx>(rs, 'publication');
      rs.subscribe();
      // Listen before connecting: the event may fire while the reader's subscribe is awaited.
      const writerConnected = waitEvent(writer, 'connected');
      reader.connect();
      writer.connect();
      const first = await subscribed(rs);
      assert.equal(first.streamPosition?.offset, 0);
      await writerConnected;

      await writer.publish('posts:general', { body: 'hello', meta: { lang: 'en' } });
      // Acknowledged means committed: the post is in storage now.
      const channel = await core.storage.getChannelByName('posts:general');
      assert.ok(channel);
      const stored = await core.storage.listPosts(channel.id, { limit: 10 });
      assert.equal(stored.length, 1);
      assert.equal(stored[0]!.body, 'hello');
      assert.equal(stored[0]!.author, 'user:alice');
      assert.deepEqual(stored[0]!.meta, { lang: 'en' });

      await waitUntilEvent(rs, 'publication', () => pubs.length === 1);
      assert.equal(pubs[0]!.offset, 1);
      assert.equal(pubs[0]!.data.id, stored[0]!.id);
      assert.equal(pubs[0]!.data.body, 'hello');

      // A post written by the domain directly (as REST does) reaches subscribers the same way.
      await core.operator.createPost(OWNER, { channelId: channel.id, body: 'from rest' });
      await waitUntilEvent(rs, 'publication', () => pubs.length === 2);
      assert.equal(pubs[1]!.offset, 2);
      assert.equal(pubs[1]!.data.author, 'owner');

      // Data that is no post is refused, nothing is stored.
      await assert.rejects(writer.publish('posts:general', 42), (e: { code: number }) => e.code === ERRORS.badRequest.code);
      assert.equal((await core.storage.listPosts(channel.id, { limit: 10 })).length, 2);
      // The server API publishes as the node itself.
      assert.deepEqual(await server.node.publish('posts:general', 'plain text body'), { offset: 3, epoch: channel.id });
    });

    it('history and recovery come from the database', async () => {
      const c = server.client({ token: await sign({ sub: 'bea' }) });
      const s = c.newSubscription('posts:log');
      const pubs = collect<PubCtx>(s, 'publication');
      s.subscribe();
      c.connect();
      await subscribed(s);
      await c.publish('posts:log', { body: 'one' });
      await waitUntilEvent(s, 'publication', () => pubs.length === 1);

      const gone = waitEvent(c, 'disconnected');
      c.disconnect();
      await gone;
      const channel = (await core.storage.getChannelByName('posts:log'))!;
      await core.operator.createPost(OWNER, { channelId: channel.id, body: 'two' });
      await core.operator.createPost(OWNER, { channelId: channel.id, body: 'three' });
      const again = subscribed(s);
      c.connect();
      const ctx = await again;
      assert.equal(ctx.recovered, true);
      await waitUntilEvent(s, 'publication', () => pubs.length === 3);
      assert.deepEqual(pubs.map((p) => [p.offset, p.data.body]), [[1, 'one'], [2, 'two'], [3, 'three']]);

      const history = await c.history('posts:log', { limit: -1 });
      assert.equal(history.epoch, channel.id);
      assert.equal(history.offset, 3);
      assert.deepEqual(history.publications.map((p) => (p.data as Post).body), ['one', 'two', 'three']);
      const newest = await c.history('posts:log', { limit: 1, reverse: true });
      assert.deepEqual(newest.publications.map((p) => p.offset), [3]);
    });

    it('edits and deletes reach subscribers as new events, in order, with increasing offsets; a client publish carries its info', async () => {
      const reader = server.client({ token: await sign({ sub: 'reader' }) });
      const writer = server.client({ token: await sign({ sub: 'alice' }) });
      const rs = reader.newSubscription('posts:edits');
      const pubs = collect<PubCtx & { info?: { user: string; client: string } }>(rs, 'publication');
      rs.subscribe();
      const writerConnected = waitEvent(writer, 'connected');
      reader.connect();
      writer.connect();
      await subscribed(rs);
      const { client: writerClient } = (await writerConnected) as { client: string };

      await writer.publish('posts:edits', { body: 'first' });
      await waitUntilEvent(rs, 'publication', () => pubs.length === 1);
      const channel = (await core.storage.getChannelByName('posts:edits'))!;
      const postId = pubs[0]!.data.id;
      // The edit and delete calls REST's PATCH and DELETE make.
      await core.operator.editPost(OWNER, postId, { body: 'first, edited' });
      await core.operator.createPost(OWNER, { channelId: channel.id, body: 'second' });
      await core.operator.deletePost(OWNER, postId);
      await waitUntilEvent(rs, 'publication', () => pubs.length === 4);

      assert.deepEqual(
        pubs.map((p) => [p.offset, p.data.id === postId ? 'first' : p.data.body, p.data.body, p.data.edited, p.data.deleted]),
        [
          [1, 'first', 'first', false, false],
          [2, 'first', 'first, edited', true, false],
          [3, 'second', 'second', false, false],
          [4, 'first', '', true, true],
        ],
      );
      assert.equal(pubs[3]!.data.seq, 1);
      assert.ok(pubs[1]!.data.updatedAt >= pubs[0]!.data.updatedAt);
      // The client publish carries the publisher's info; the domain's writes have none.
      assert.equal(pubs[0]!.info?.user, 'alice');
      assert.equal(pubs[0]!.info?.client, writerClient);
      assert.equal(pubs[1]!.info, undefined);
      // History (what recovery reads) holds the same events, the info included.
      const history = await reader.history('posts:edits', { limit: -1 });
      assert.equal(history.offset, 4);
      assert.deepEqual(history.publications.map((p) => [p.offset, (p.data as Post).edited, (p.data as Post).deleted]), [
        [1, false, false],
        [2, true, false],
        [3, false, false],
        [4, true, true],
      ]);
      assert.equal(history.publications[0]!.info?.client, writerClient);
    });

    it('a client that missed an edit and a delete recovers both on reconnect', async () => {
      const c = server.client({ token: await sign({ sub: 'bea' }) });
      const s = c.newSubscription('posts:missed');
      const pubs = collect<PubCtx>(s, 'publication');
      s.subscribe();
      c.connect();
      await subscribed(s);
      await c.publish('posts:missed', { body: 'keep' });
      await c.publish('posts:missed', { body: 'doomed' });
      await waitUntilEvent(s, 'publication', () => pubs.length === 2);
      const [keep, doomed] = pubs.map((p) => p.data);

      const gone = waitEvent(c, 'disconnected');
      c.disconnect();
      await gone;
      await core.operator.editPost(OWNER, keep!.id, { body: 'kept, edited' });
      await core.operator.deletePost(OWNER, doomed!.id);
      const again = subscribed(s);
      c.connect();
      const ctx = await again;
      assert.equal(ctx.recovered, true);
      assert.equal(ctx.wasRecovering, true);
      await waitUntilEvent(s, 'publication', () => pubs.length === 4);
      assert.deepEqual(
        pubs.slice(2).map((p) => [p.offset, p.data.id, p.data.body, p.data.edited, p.data.deleted]),
        [
          [3, keep!.id, 'kept, edited', true, false],
          [4, doomed!.id, '', false, true],
        ],
      );
    });
  });
}
