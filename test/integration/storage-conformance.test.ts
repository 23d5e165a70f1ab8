/**
 * The one storage conformance suite: every test runs against SQLite and PostgreSQL alike
 * (test/helpers/storage.ts). A behaviour one backend has and the other lacks fails here.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Change, Channel, ClientNode, Link, Post, Session } from '../../src/model/content.js';
import { MycelError, type ErrorCode } from '../../src/errors.js';
import { sha256Hex } from '../../src/lib/hash.js';
import { newId } from '../../src/lib/ids.js';
import { createStorage, CURRENT_SCHEMA_VERSION } from '../../src/storage/index.js';
import { MIGRATIONS, SCHEMA_MIGRATIONS_DDL } from '../../src/storage/migrations/index.js';
import type { ChangeHead, Storage, StorageTx } from '../../src/storage/storage.js';
import { rawExec, storageBackends, type StorageHandle } from '../helpers/storage.js';

const ZERO_HASH = '0'.repeat(64);
/** Times beyond 2^31 so a 32-bit or string mapping of BIGINT would show. */
const T0 = 1_700_000_000_000;
const NODE_ID = newId();

function isCode(code: ErrorCode) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof MycelError, `expected MycelError ${code}, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Lets every pending callback run a few times; used only to show something did NOT happen. */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

function channel(over: Partial<Channel> = {}): Channel {
  const id = over.id ?? newId();
  return {
    id,
    name: `chat:${id}`,
    namespace: 'chat',
    description: 'a channel',
    originNodeId: NODE_ID,
    createdAt: T0,
    updatedAt: T0,
    lastSeq: 0,
    ...over,
  };
}

function post(channelId: string, seq: number, over: Partial<Post> = {}): Post {
  return {
    id: newId(),
    channelId,
    seq,
    author: 'owner',
    body: `post ${seq}`,
    meta: { n: seq, nested: { list: [1, 'two', null, true], text: 'é ✓ "quoted"' } },
    blobRefs: [`sha256://${'ab'.repeat(32)}`],
    originNodeId: NODE_ID,
    createdAt: T0 + seq,
    updatedAt: T0 + seq,
    edited: false,
    deleted: false,
    ...over,
  };
}

function link(fromPostId: string, toPostId: string, label = 'replies-to', over: Partial<Link> = {}): Link {
  return { id: newId(), fromPostId, toPostId, label, originNodeId: NODE_ID, createdAt: T0, ...over };
}

/** The change that follows `head`; its hash links to the head's so the chain can be checked. */
function nextChange(head: ChangeHead, originNodeId = NODE_ID, originSerial?: number, payload: Record<string, unknown> = {}): Change {
  const serial = head.serial + 1;
  const os = originSerial ?? serial;
  return {
    serial,
    originNodeId,
    originSerial: os,
    type: 'post.created',
    payloadVersion: 1,
    payload: { ...payload, serial, z: 1, a: [{ b: 2 }] },
    createdAt: T0 + serial,
    prevHash: head.hash,
    hash: sha256Hex(`${head.hash}|${serial}|${originNodeId}|${os}`),
  };
}

async function append(tx: StorageTx, originNodeId = NODE_ID, originSerial?: number): Promise<Change> {
  const head = await tx.lockChangeHead();
  const change = nextChange(head, originNodeId, originSerial);
  await tx.insertChange(change);
  return change;
}

function clientNode(over: Partial<ClientNode> = {}): ClientNode {
  return { id: newId(), passwordHash: 'hash', asOwner: false, role: 'child', writeAccess: 'read-only', channels: [], createdAt: T0, updatedAt: T0, ...over };
}

/** Reads the whole change log and checks serials 1..n, gapless, each linked to the previous. */
async function readChain(storage: Storage): Promise<Change[]> {
  const all: Change[] = [];
  for (let guard = 0; guard < 1000; guard++) {
    const page = await storage.getChanges(all.length + 1, 1000);
    all.push(...page);
    if (page.length < 1000) break;
  }
  let prev = ZERO_HASH;
  all.forEach((c, i) => {
    assert.equal(c.serial, i + 1, 'serials are gapless from 1');
    assert.equal(c.prevHash, prev, `change ${c.serial} links to its predecessor`);
    prev = c.hash;
  });
  return all;
}

for (const backend of storageBackends) {
  describe(`storage conformance: ${backend.name}`, () => {
    let h: StorageHandle;
    let s: Storage;

    beforeEach(async () => {
      h = await backend.create();
      s = h.storage;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('reports its dialect', () => {
      assert.equal(s.dialect, backend.name);
    });

    describe('node', () => {
      it('stores the single node row and its owner password hash', async () => {
        assert.equal(await s.getNode(), null);
        await assert.rejects(s.transaction((tx) => tx.setOwnerPasswordHash('x')), isCode('NODE_NOT_INITIALIZED'));
        const node = { id: NODE_ID, name: 'my node', createdAt: T0, ownerPasswordHash: null };
        await s.transaction((tx) => tx.insertNode(node));
        assert.deepEqual(await s.getNode(), node);
        await s.transaction((tx) => tx.setOwnerPasswordHash('scrypt$1$2$3$salt$key'));
        assert.deepEqual(await s.getNode(), { ...node, ownerPasswordHash: 'scrypt$1$2$3$salt$key' });
        // A second node row is refused: a database holds exactly one node.
        await assert.rejects(s.transaction((tx) => tx.insertNode({ ...node, id: newId() })), isCode('INTERNAL'));
        assert.equal((await s.getNode())?.id, NODE_ID);
      });
    });

    describe('channels', () => {
      it('inserts, reads, updates and deletes a channel', async () => {
        const c = channel({ description: 'first ✓', lastSeq: 0 });
        await s.transaction((tx) => tx.insertChannel(c));
        assert.deepEqual(await s.getChannel(c.id), c);
        assert.deepEqual(await s.getChannelByName(c.name), c);
        assert.equal(await s.getChannel(newId()), null);
        assert.equal(await s.getChannelByName('chat:nope'), null);

        const updated = { ...c, description: 'second', updatedAt: T0 + 5, lastSeq: 3 };
        await s.transaction((tx) => tx.updateChannel(updated));
        assert.deepEqual(await s.getChannel(c.id), updated);
        assert.deepEqual(await s.getChannelByName(c.name), updated);
        // A channel's name is immutable: an update never renames it.
        await s.transaction((tx) => tx.updateChannel({ ...updated, name: 'chat:renamed', namespace: 'chat' }));
        assert.deepEqual(await s.getChannelByName(c.name), updated);
        assert.equal(await s.getChannelByName('chat:renamed'), null);

        await s.transaction((tx) => tx.deleteChannel(c.id));
        assert.equal(await s.getChannel(c.id), null);
        await assert.rejects(s.transaction((tx) => tx.deleteChannel(c.id)), isCode('CHANNEL_NOT_FOUND'));
        await assert.rejects(s.transaction((tx) => tx.updateChannel(updated)), isCode('CHANNEL_NOT_FOUND'));
      });

      it('refuses a second channel with the same name', async () => {
        const a = channel({ name: 'chat:lobby' });
        const b = channel({ name: 'chat:other' });
        await s.transaction(async (tx) => {
          await tx.insertChannel(a);
          await tx.insertChannel(b);
        });
        await assert.rejects(s.transaction((tx) => tx.insertChannel(channel({ name: 'chat:lobby' }))), isCode('CHANNEL_EXISTS'));
        assert.equal((await s.listChannels({ limit: 10 })).length, 2);
      });

      it('lists channels by (createdAt, id) with keyset pages', async () => {
        // Ties on createdAt are broken by id; insertion order is shuffled on purpose.
        const chans = [3, 1, 2, 2, 1, 3, 2].map((t) => channel({ createdAt: T0 + t }));
        await s.transaction(async (tx) => {
          for (const c of chans) await tx.insertChannel(c);
        });
        const expected = [...chans].sort((x, y) => x.createdAt - y.createdAt || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
        assert.deepEqual(await s.listChannels({ limit: 100 }), expected);

        const paged: Channel[] = [];
        let after: { createdAt: number; id: string } | undefined;
        for (let guard = 0; guard < 10; guard++) {
          const page = await s.listChannels(after ? { after, limit: 3 } : { limit: 3 });
          paged.push(...page);
          if (page.length < 3) break;
          const last = page[page.length - 1]!;
          after = { createdAt: last.createdAt, id: last.id };
        }
        assert.deepEqual(paged.map((c) => c.id), expected.map((c) => c.id));
        assert.deepEqual(await s.listChannels({ limit: 0 }), []);
      });
    });

    describe('posts', () => {
      it('round-trips a post faithfully and updates it', async () => {
        const c = channel();
        const p = post(c.id, 1);
        await s.transaction(async (tx) => {
          await tx.insertChannel(c);
          await tx.insertPost(p);
          await tx.updateChannel({ ...c, lastSeq: 1 });
        });
        const got = await s.getPost(p.id);
        assert.deepEqual(got, p);
        assert.equal(typeof got?.createdAt, 'number');
        assert.equal(got?.edited, false);

        const edited = { ...p, body: 'edited body', meta: { k: [1.5, -2, { deep: 'x' }] }, updatedAt: T0 + 99, edited: true };
        await s.transaction((tx) => tx.updatePost(edited));
        assert.deepEqual(await s.getPost(p.id), edited);

        const tombstone = { ...edited, body: '', meta: {}, blobRefs: [], deleted: true, updatedAt: T0 + 100 };
        await s.transaction((tx) => tx.updatePost(tombstone));
        assert.deepEqual(await s.getPost(p.id), tombstone);
        assert.equal((await s.getChannel(c.id))?.lastSeq, 1);

        assert.equal(await s.getPost(newId()), null);
        await assert.rejects(s.transaction((tx) => tx.updatePost({ ...p, id: newId() })), isCode('POST_NOT_FOUND'));
      });

      it('refuses a post in a missing channel and a taken seq', async () => {
        const c = channel();
        await s.transaction(async (tx) => {
          await tx.insertChannel(c);
          await tx.insertPost(post(c.id, 1));
        });
        await assert.rejects(s.transaction((tx) => tx.insertPost(post(newId(), 1))), isCode('CHANNEL_NOT_FOUND'));
        await assert.rejects(s.transaction((tx) => tx.insertPost(post(c.id, 1))), isCode('INTERNAL'));
        assert.equal((await s.listPosts(c.id, { limit: 10 })).length, 1);
      });

      it('lists posts by seq: afterSeq, beforeSeq, reverse, limit', async () => {
        const c = channel();
        const other = channel();
        const posts = Array.from({ length: 10 }, (_, i) => post(c.id, i + 1, { deleted: i === 4, body: i === 4 ? '' : `p${i + 1}` }));
        await s.transaction(async (tx) => {
          await tx.insertChannel(c);
          await tx.insertChannel(other);
          // Inserted out of order: the listing orders by seq, not by insertion.
          for (const p of [...posts].reverse()) await tx.insertPost(p);
          await tx.insertPost(post(other.id, 1));
          await tx.updateChannel({ ...c, lastSeq: 10 });
        });
        const seqs = async (o: Parameters<Storage['listPosts']>[1]) => (await s.listPosts(c.id, o)).map((p) => p.seq);
        assert.deepEqual(await seqs({ limit: 100 }), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert.deepEqual(await seqs({ afterSeq: 3, limit: 4 }), [4, 5, 6, 7]);
        assert.deepEqual(await seqs({ beforeSeq: 5, limit: 100 }), [1, 2, 3, 4]);
        assert.deepEqual(await seqs({ afterSeq: 2, beforeSeq: 6, limit: 100 }), [3, 4, 5]);
        assert.deepEqual(await seqs({ reverse: true, limit: 3 }), [10, 9, 8]);
        assert.deepEqual(await seqs({ reverse: true, beforeSeq: 5, limit: 2 }), [4, 3]);
        assert.deepEqual(await seqs({ reverse: true, afterSeq: 8, limit: 100 }), [10, 9]);
        assert.deepEqual(await seqs({ afterSeq: 10, limit: 100 }), []);
        assert.deepEqual(await seqs({ limit: 0 }), []);
        // Tombstones are listed.
        assert.deepEqual(await s.listPosts(c.id, { afterSeq: 4, limit: 1 }), [posts[4]]);
        assert.deepEqual(await s.listPosts(newId(), { limit: 10 }), []);
      });
    });

    describe('stream events', () => {
      it('appends gapless offsets per channel, keeps each event\'s post state and publisher, lists by offset range', async () => {
        const c = channel();
        const other = channel();
        const p1 = post(c.id, 1);
        const p2 = post(c.id, 2);
        const info = { user: 'alice', client: 'c-1', connInfo: { name: 'Alice é' } };
        const offsets = await s.transaction(async (tx) => {
          await tx.insertChannel(c);
          await tx.insertChannel(other);
          await tx.insertPost(p1);
          const a = await tx.appendStreamEvent(p1, info);
          await tx.insertPost(p2);
          const b = await tx.appendStreamEvent(p2, null);
          const q = post(other.id, 1);
          await tx.insertPost(q);
          const o = await tx.appendStreamEvent(q, null);
          return [a, b, o];
        });
        assert.deepEqual(offsets, [1, 2, 1]);
        const edited = { ...p1, body: 'edited', updatedAt: T0 + 50, edited: true };
        const tombstone = { ...edited, body: '', meta: {}, blobRefs: [], deleted: true, updatedAt: T0 + 60 };
        await s.transaction(async (tx) => {
          await tx.updatePost(edited);
          assert.equal(await tx.appendStreamEvent(edited, null), 3);
          await tx.updatePost(tombstone);
          assert.equal(await tx.appendStreamEvent(tombstone, null), 4);
        });
        // A work rolled back to its savepoint gives its offset back: the next one takes it.
        await s.transactionBatch([
          async (tx) => {
            await tx.appendStreamEvent(p2, null);
            throw new Error('rolled back');
          },
          async (tx) => {
            assert.equal(await tx.appendStreamEvent(p2, null), 5);
          },
        ]);
        assert.equal(await s.getStreamTop(c.id), 5);
        assert.equal(await s.getStreamTop(other.id), 1);
        assert.equal(await s.getStreamTop(newId()), 0);
        const events = await s.listStreamEvents(c.id, { limit: 100 });
        assert.deepEqual(
          events.map((e) => e.offset),
          [1, 2, 3, 4, 5],
        );
        // Each event holds the post as it left it; the post itself is at its last state.
        assert.deepEqual(events[0], { offset: 1, post: p1, publisher: info });
        assert.deepEqual(events[2], { offset: 3, post: edited, publisher: null });
        assert.deepEqual(events[3], { offset: 4, post: tombstone, publisher: null });
        assert.deepEqual(await s.getPost(p1.id), tombstone);
        const range = async (o: Parameters<Storage['listStreamEvents']>[1]) => (await s.listStreamEvents(c.id, o)).map((e) => e.offset);
        assert.deepEqual(await range({ afterOffset: 2, limit: 2 }), [3, 4]);
        assert.deepEqual(await range({ afterOffset: 1, beforeOffset: 4, limit: 100 }), [2, 3]);
        assert.deepEqual(await range({ reverse: true, limit: 2 }), [5, 4]);
        assert.deepEqual(await range({ reverse: true, beforeOffset: 3, limit: 100 }), [2, 1]);
        assert.deepEqual(await range({ limit: 0 }), []);
        assert.equal(await s.getPostStreamOffset(p1.id), 1);
        assert.equal(await s.getPostStreamOffset(p2.id), 2);
        assert.equal(await s.getPostStreamOffset(newId()), null);
        // Deleting the channel deletes its stream.
        await s.transaction((tx) => tx.deleteChannel(c.id));
        assert.equal(await s.getStreamTop(c.id), 0);
        assert.deepEqual(await s.listStreamEvents(c.id, { limit: 100 }), []);
      });
      it('migration 3 gives every existing post one event at offset = seq, in its current state', async () => {
        const c = channel();
        const p1 = post(c.id, 1, { body: 'edited', edited: true, updatedAt: T0 + 40 });
        const p2 = post(c.id, 2);
        await s.transaction(async (tx) => {
          await tx.insertChannel(c);
          await tx.insertPost(p1);
          await tx.insertPost(p2);
          await tx.updateChannel({ ...c, lastSeq: 2 });
        });
        // The database as schema version 3 left it: no stream events.
        await rawExec(h, 'DROP TABLE stream_events');
        await rawExec(h, 'DELETE FROM schema_migrations WHERE version = $1', [4]);
        const again = h.open();
        assert.deepEqual((await again.migrate()).applied, [4]);
        assert.equal(await again.getStreamTop(c.id), 2);
        assert.deepEqual(await again.listStreamEvents(c.id, { limit: 10 }), [
          { offset: 1, post: p1, publisher: null },
          { offset: 2, post: p2, publisher: null },
        ]);
        // New events continue after them.
        assert.equal(await again.transaction((tx) => tx.appendStreamEvent(p2, null)), 3);
      });

    });

    describe('links', () => {
      async function threePosts(): Promise<{ c: Channel; p: Post[] }> {
        const c = channel();
        const p = [post(c.id, 1), post(c.id, 2), post(c.id, 3)];
        await s.transaction(async (tx) => {
          await tx.insertChannel(c);
          for (const x of p) await tx.insertPost(x);
        });
        return { c, p };
      }

      it('inserts, finds, lists and deletes links; a link is unique per (from, to, label)', async () => {
        const { p } = await threePosts();
        const [p1, p2, p3] = [p[0]!, p[1]!, p[2]!];
        const l1 = link(p1.id, p2.id, 'replies-to', { createdAt: T0 + 2 });
        const l2 = link(p1.id, p2.id, 'cites', { createdAt: T0 + 1 });
        const l3 = link(p3.id, p1.id, 'replies-to', { createdAt: T0 + 3 });
        const self = link(p1.id, p1.id, 'self', { createdAt: T0 + 4 });
        await s.transaction(async (tx) => {
          for (const l of [l1, l2, l3, self]) await tx.insertLink(l);
        });
        assert.deepEqual(await s.getLink(l1.id), l1);
        assert.deepEqual(await s.findLink(p1.id, p2.id, 'cites'), l2);
        assert.equal(await s.findLink(p2.id, p1.id, 'cites'), null);
        assert.equal(await s.getLink(newId()), null);
        // From or to the post, by (createdAt, id); a self-link appears once.
        assert.deepEqual(await s.listLinks(p1.id), [l2, l1, l3, self]);
        assert.deepEqual(await s.listLinks(p2.id), [l2, l1]);
        assert.deepEqual(await s.listLinks(newId()), []);

        await assert.rejects(s.transaction((tx) => tx.insertLink(link(p1.id, p2.id, 'cites'))), isCode('LINK_EXISTS'));
        await assert.rejects(s.transaction((tx) => tx.insertLink(link(p1.id, newId()))), isCode('POST_NOT_FOUND'));

        await s.transaction((tx) => tx.deleteLink(l1.id));
        assert.equal(await s.getLink(l1.id), null);
        await assert.rejects(s.transaction((tx) => tx.deleteLink(l1.id)), isCode('LINK_NOT_FOUND'));
        assert.deepEqual(await s.listLinks(p2.id), [l2]);
      });

      it('deleting a channel deletes its posts and every link from or to them', async () => {
        const a = channel();
        const b = channel();
        const [a1, a2, b1] = [post(a.id, 1), post(a.id, 2), post(b.id, 1)];
        const links = [link(a1.id, a2.id), link(a1.id, b1.id), link(b1.id, a2.id)];
        const kept = link(b1.id, b1.id, 'self');
        await s.transaction(async (tx) => {
          await tx.insertChannel(a);
          await tx.insertChannel(b);
          for (const p of [a1, a2, b1]) await tx.insertPost(p);
          for (const l of [...links, kept]) await tx.insertLink(l);
        });
        await s.transaction((tx) => tx.deleteChannel(a.id));
        assert.equal(await s.getChannel(a.id), null);
        assert.equal(await s.getPost(a1.id), null);
        assert.equal(await s.getPost(a2.id), null);
        for (const l of links) assert.equal(await s.getLink(l.id), null);
        assert.deepEqual(await s.getPost(b1.id), b1);
        assert.deepEqual(await s.listLinks(b1.id), [kept]);
        assert.deepEqual(await s.getChannel(b.id), b);
      });
    });

    describe('scans by id', () => {
      it('walks every channel, post (tombstones too) and link in ascending id order, a page at a time', async () => {
        // Random (v4) ids, so id order differs from creation order and from seq order.
        const cs = [channel({ id: randomUUID() }), channel({ id: randomUUID() }), channel({ id: randomUUID() })];
        const ps = [1, 2, 3, 4, 5].map((seq) => post(cs[seq % 3]!.id, Math.ceil(seq / 3), { id: randomUUID(), deleted: seq === 4 }));
        const ls = [link(ps[0]!.id, ps[1]!.id), link(ps[1]!.id, ps[2]!.id), link(ps[4]!.id, ps[0]!.id, 'cites')].map((l) => ({ ...l, id: randomUUID() }));
        await s.transaction(async (tx) => {
          for (const c of cs) await tx.insertChannel(c);
          for (const p of ps) await tx.insertPost(p);
          for (const l of ls) await tx.insertLink(l);
        });
        async function walk<T extends { id: string }>(scan: (after: string | null, limit: number) => Promise<T[]>): Promise<T[]> {
          const all: T[] = [];
          for (let after: string | null = null; ; ) {
            const page = await scan(after, 2);
            all.push(...page);
            if (page.length < 2) return all;
            after = page[page.length - 1]!.id;
          }
        }
        const byId = <T extends { id: string }>(xs: T[]): T[] => [...xs].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        assert.deepEqual(await walk((a, n) => s.scanChannels(a, n)), byId(cs));
        assert.deepEqual(await walk((a, n) => s.scanPosts(a, n)), byId(ps));
        assert.deepEqual(await walk((a, n) => s.scanLinks(a, n)), byId(ls));
        assert.deepEqual(await s.scanPosts(byId(ps)[4]!.id, 10), []);
        assert.deepEqual(await s.scanLinks(null, 0), []);
        // Inside a transaction too (replication and verify read through one).
        assert.deepEqual(await s.transaction((tx) => tx.scanChannels(null, 10)), byId(cs));
      });
    });

    describe('sessions and client nodes', () => {
      it('stores sessions and deletes the expired ones', async () => {
        const mk = (expiresAt: number, subjectKind: Session['subjectKind'] = 'owner'): Session => ({
          tokenHash: sha256Hex(newId()),
          subjectKind,
          subjectId: subjectKind === 'owner' ? 'owner' : newId(),
          createdAt: T0,
          expiresAt,
        });
        const past = mk(T0 + 10);
        const edge = mk(T0 + 20, 'node');
        const future = mk(T0 + 30);
        await s.transaction(async (tx) => {
          for (const x of [past, edge, future]) await tx.insertSession(x);
        });
        assert.deepEqual(await s.getSession(edge.tokenHash), edge);
        assert.equal(await s.getSession('nope'), null);
        // A session expires at expiresAt: the one expiring exactly now goes too.
        assert.equal(await s.transaction((tx) => tx.deleteExpiredSessions(T0 + 20)), 2);
        assert.equal(await s.getSession(past.tokenHash), null);
        assert.equal(await s.getSession(edge.tokenHash), null);
        assert.deepEqual(await s.getSession(future.tokenHash), future);
        await s.transaction((tx) => tx.deleteSession(future.tokenHash));
        assert.equal(await s.getSession(future.tokenHash), null);
        // Deleting a session that is gone is not an error (logout twice).
        await s.transaction((tx) => tx.deleteSession(future.tokenHash));
      });

      it('deletes every owner session and only those', async () => {
        const mk = (subjectKind: Session['subjectKind']): Session => ({
          tokenHash: sha256Hex(newId()),
          subjectKind,
          subjectId: subjectKind === 'owner' ? 'owner' : newId(),
          createdAt: T0,
          expiresAt: T0 + 1000,
        });
        const owners = [mk('owner'), mk('owner')];
        const node = mk('node');
        await s.transaction(async (tx) => {
          for (const x of [...owners, node]) await tx.insertSession(x);
        });
        assert.equal(await s.transaction((tx) => tx.deleteOwnerSessions()), 2);
        for (const o of owners) assert.equal(await s.getSession(o.tokenHash), null);
        assert.deepEqual(await s.getSession(node.tokenHash), node);
        assert.equal(await s.transaction((tx) => tx.deleteOwnerSessions()), 0);
      });

      it('registers a client node once and keeps its first password', async () => {
        const owner = clientNode({ passwordHash: 'hash-1', asOwner: true, role: 'both', writeAccess: 'read-write' });
        const plain = clientNode({ passwordHash: 'hash-2', createdAt: T0 + 1, channels: ['a', 'ns:*'] });
        assert.equal(await s.transaction((tx) => tx.insertClientNode(owner)), true);
        assert.equal(await s.transaction((tx) => tx.insertClientNode(plain)), true);
        assert.equal(await s.transaction((tx) => tx.insertClientNode({ ...owner, passwordHash: 'other', asOwner: false })), false);
        assert.deepEqual(await s.getClientNode(owner.id), owner);
        assert.deepEqual(await s.getClientNode(plain.id), plain);
        assert.equal(await s.getClientNode(newId()), null);
      });

      it('lists client nodes by (createdAt, id), updates and deletes them', async () => {
        const nodes = [3, 1, 2, 1].map((t) => clientNode({ createdAt: T0 + t, updatedAt: T0 + t }));
        await s.transaction(async (tx) => {
          for (const n of nodes) await tx.insertClientNode(n);
        });
        const order = [...nodes].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
        assert.deepEqual(await s.listClientNodes(), order);

        const changed: ClientNode = { ...nodes[0]!, passwordHash: 'new', asOwner: true, role: 'parent', writeAccess: 'read-write', channels: ['x:*'], updatedAt: T0 + 50 };
        await s.transaction((tx) => tx.updateClientNode(changed));
        assert.deepEqual(await s.getClientNode(changed.id), changed);
        // created_at and id never change, whatever the value says.
        await s.transaction((tx) => tx.updateClientNode({ ...changed, createdAt: T0 + 99 }));
        assert.equal((await s.getClientNode(changed.id))!.createdAt, nodes[0]!.createdAt);

        await s.transaction((tx) => tx.deleteClientNode(nodes[1]!.id));
        assert.equal(await s.getClientNode(nodes[1]!.id), null);
        assert.equal((await s.listClientNodes()).length, 3);

        const ghost = clientNode();
        await assert.rejects(s.transaction((tx) => tx.updateClientNode(ghost)), isCode('NODE_NOT_FOUND'));
        await assert.rejects(s.transaction((tx) => tx.deleteClientNode(ghost.id)), isCode('NODE_NOT_FOUND'));
        assert.equal(await s.getClientNode(ghost.id), null, 'a failed update inserts nothing');
      });

      it('deletes the sessions of one client node and only those', async () => {
        const a = newId();
        const b = newId();
        const mk = (subjectKind: Session['subjectKind'], subjectId: string): Session => ({
          tokenHash: sha256Hex(newId()),
          subjectKind,
          subjectId,
          createdAt: T0,
          expiresAt: T0 + 1000,
        });
        const ofA = [mk('node', a), mk('node', a)];
        const others = [mk('node', b), mk('owner', a)];
        await s.transaction(async (tx) => {
          for (const x of [...ofA, ...others]) await tx.insertSession(x);
        });
        assert.equal(await s.transaction((tx) => tx.deleteNodeSessions(a)), 2);
        for (const x of ofA) assert.equal(await s.getSession(x.tokenHash), null);
        for (const x of others) assert.deepEqual(await s.getSession(x.tokenHash), x);
        assert.equal(await s.transaction((tx) => tx.deleteNodeSessions(a)), 0);
      });

      it('refuses a client node role or write access outside its set (schema check)', async () => {
        const bad = clientNode({ role: 'sibling' as ClientNode['role'] });
        await assert.rejects(s.transaction((tx) => tx.insertClientNode(bad)));
        const worse = clientNode({ writeAccess: 'everything' as ClientNode['writeAccess'] });
        await assert.rejects(s.transaction((tx) => tx.insertClientNode(worse)));
        assert.deepEqual(await s.listClientNodes(), []);
      });

      it('gives client nodes registered before schema 3 both roles, read-write and every channel', async () => {
        const old = await backend.create({ migrate: false });
        try {
          const statements = (sql: string) => sql.split(/;\s*\n/).map((x) => x.trim()).filter((x) => x !== '');
          await rawExec(old, SCHEMA_MIGRATIONS_DDL[backend.name]);
          for (const m of MIGRATIONS.filter((x) => x.version <= 2)) {
            for (const sql of statements(m[backend.name])) await rawExec(old, sql);
            await rawExec(old, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, T0]);
          }
          const id = newId();
          await rawExec(old, 'INSERT INTO client_nodes (id, password_hash, as_owner, created_at) VALUES ($1, $2, $3, $4)', [id, 'h', backend.name === 'sqlite' ? 1 : true, T0]);
          assert.equal(await old.storage.schemaVersion(), 2);
          await old.storage.migrate();
          assert.deepEqual(await old.storage.getClientNode(id), {
            id, passwordHash: 'h', asOwner: true, role: 'both', writeAccess: 'read-write', channels: [], createdAt: T0, updatedAt: T0,
          });
        } finally {
          await old.cleanup();
        }
      });
    });

    describe('change log', () => {
      it('starts at serial 0 with 64 zeros, appends under the head lock, reads by serial', async () => {
        assert.deepEqual(await s.readChangeHead(), { serial: 0, hash: ZERO_HASH });
        assert.equal(await s.countChanges(), 0);
        assert.deepEqual(await s.getChanges(1, 10), []);

        const written = await s.transaction(async (tx) => {
          const out: Change[] = [];
          for (let i = 0; i < 5; i++) out.push(await append(tx));
          // Inside the transaction its own appends are visible.
          assert.equal((await tx.lockChangeHead()).serial, 5);
          assert.equal(await tx.countChanges(), 5);
          return out;
        });
        assert.deepEqual(await s.readChangeHead(), { serial: 5, hash: written[4]!.hash });
        assert.deepEqual(await s.getChanges(1, 100), written);
        assert.deepEqual(await s.getChanges(3, 2), written.slice(2, 4));
        assert.deepEqual(await s.getChanges(5, 10), written.slice(4));
        assert.deepEqual(await s.getChanges(6, 10), []);
        assert.deepEqual(await s.getChanges(1, 0), []);
        assert.equal(await s.countChanges(), 5);
        await readChain(s);

        // The payload is kept as the exact JSON text that was written.
        const raw = await rawExec(h, 'SELECT payload FROM changes WHERE serial = $1', [2]);
        assert.equal(raw.rows[0]?.payload, JSON.stringify(written[1]!.payload));
      });

      it('refuses a change that does not follow the head, and a repeated origin serial', async () => {
        await s.transaction((tx) => append(tx));
        const head = await s.readChangeHead();
        const gap = { ...nextChange(head), serial: head.serial + 2 };
        await assert.rejects(s.transaction((tx) => tx.insertChange(gap)), isCode('CHANGE_LOG_BROKEN'));
        const fork = { ...nextChange(head), prevHash: 'f'.repeat(64) };
        await assert.rejects(s.transaction((tx) => tx.insertChange(fork)), isCode('CHANGE_LOG_BROKEN'));
        const dup = nextChange(head, NODE_ID, 1);
        await assert.rejects(s.transaction((tx) => tx.insertChange(dup)), isCode('INTERNAL'));
        assert.deepEqual(await s.readChangeHead(), head);
        assert.equal(await s.countChanges(), 1);
      });

      it('keeps serials gapless and unique under 8 concurrent writers x 1,000 appends', { timeout: 60_000 }, async () => {
        const WRITERS = 8;
        const APPENDS = 1000;
        const PER_TX = 50;
        const origins = Array.from({ length: WRITERS }, () => newId());
        // Half of the writers go through a second storage on the same database (another pool,
        // another SQLite connection): the head lock must hold across processes, not just
        // inside one storage.
        const second = h.open();
        const started = performance.now();
        await Promise.all(
          origins.map(async (origin, w) => {
            const storage = w % 2 === 0 ? s : second;
            for (let done = 0; done < APPENDS; done += PER_TX) {
              if (w < WRITERS / 2) {
                await storage.transaction(async (tx) => {
                  for (let k = 1; k <= PER_TX; k++) await append(tx, origin, done + k);
                });
              } else {
                const works = Array.from({ length: PER_TX }, (_, k) => (tx: StorageTx) => append(tx, origin, done + k + 1));
                const results = await storage.transactionBatch(works);
                assert.ok(results.every((r) => r.status === 'fulfilled'), 'every append of the batch commits');
              }
            }
          }),
        );
        const elapsed = performance.now() - started;
        const chain = await readChain(s);
        assert.equal(chain.length, WRITERS * APPENDS);
        assert.equal(await s.countChanges(), WRITERS * APPENDS);
        assert.deepEqual(await s.readChangeHead(), { serial: WRITERS * APPENDS, hash: chain[chain.length - 1]!.hash });
        for (const origin of origins) {
          const mine = chain.filter((c) => c.originNodeId === origin).map((c) => c.originSerial);
          assert.deepEqual(mine, Array.from({ length: APPENDS }, (_, i) => i + 1), 'each writer appended in order, nothing lost');
        }
        console.log(`# ${backend.name}: ${WRITERS * APPENDS} concurrent appends in ${elapsed.toFixed(0)} ms`);
      });
    });

    describe('schema and migrations', () => {
      it('is at the code schema version and migrating again changes nothing', async () => {
        assert.equal(await s.schemaVersion(), CURRENT_SCHEMA_VERSION);
        assert.deepEqual(await s.migrate(), { from: CURRENT_SCHEMA_VERSION, to: CURRENT_SCHEMA_VERSION, applied: [] });
        assert.equal(await s.schemaVersion(), CURRENT_SCHEMA_VERSION);
        const rows = await rawExec(h, 'SELECT version, name, applied_at FROM schema_migrations ORDER BY version');
        assert.equal(rows.rowCount, CURRENT_SCHEMA_VERSION);
        assert.equal(rows.rows[0]?.name, 'initial');
      });

      it('migrates a fresh database from 0, also with two instances starting together', async () => {
        const fresh = await backend.create({ migrate: false });
        try {
          assert.equal(await fresh.storage.schemaVersion(), 0);
          const other = fresh.open();
          const [a, b] = await Promise.all([fresh.storage.migrate(), other.migrate()]);
          const applied = [...a.applied, ...b.applied].sort((x, y) => x - y);
          assert.deepEqual(applied, Array.from({ length: CURRENT_SCHEMA_VERSION }, (_, i) => i + 1), 'each migration applied exactly once');
          assert.equal(a.to, CURRENT_SCHEMA_VERSION);
          assert.equal(await fresh.storage.schemaVersion(), CURRENT_SCHEMA_VERSION);
          assert.equal(await other.schemaVersion(), CURRENT_SCHEMA_VERSION);
          assert.deepEqual(await fresh.storage.readChangeHead(), { serial: 0, hash: ZERO_HASH });
        } finally {
          await fresh.cleanup();
        }
      });

      it('refuses a database migrated by a newer Mycel (SCHEMA_TOO_NEW)', async () => {
        const newer = CURRENT_SCHEMA_VERSION + 1;
        await rawExec(h, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [newer, 'from the future', T0]);
        await assert.rejects(s.migrate(), (err: unknown) => {
          isCode('SCHEMA_TOO_NEW')(err);
          assert.deepEqual((err as MycelError).details, { databaseVersion: newer, codeVersion: CURRENT_SCHEMA_VERSION });
          return true;
        });
        assert.equal(await s.schemaVersion(), newer);
      });
    });

    describe('transactions', () => {
      it('returns the work result on commit and rolls everything back when the work throws', async () => {
        const kept = channel();
        assert.equal(await s.transaction(async (tx) => (await tx.insertChannel(kept), 'done')), 'done');
        const lost = channel();
        const boom = new Error('boom');
        await assert.rejects(
          s.transaction(async (tx) => {
            await tx.insertChannel(lost);
            await append(tx);
            assert.deepEqual(await tx.getChannel(lost.id), lost, 'a transaction reads its own writes');
            throw boom;
          }),
          (err) => err === boom,
        );
        assert.equal(await s.getChannel(lost.id), null);
        assert.deepEqual(await s.getChannel(kept.id), kept);
        assert.deepEqual(await s.readChangeHead(), { serial: 0, hash: ZERO_HASH });
        assert.equal(await s.countChanges(), 0);
      });

      it('refuses to use a transaction after it ended', async () => {
        let leaked: StorageTx | undefined;
        await s.transaction(async (tx) => {
          leaked = tx;
        });
        await assert.rejects(leaked!.insertChannel(channel()), isCode('INTERNAL'));
        assert.deepEqual(await s.listChannels({ limit: 10 }), []);
      });

      it('transactionBatch rolls back only the failing works and commits the rest once', async () => {
        const [c1, c2, c3, c4] = [channel(), channel(), channel(), channel()];
        const boom = new Error('boom');
        const results = await s.transactionBatch([
          async (tx) => {
            await tx.insertChannel(c1);
            return (await append(tx)).serial;
          },
          async (tx) => {
            await tx.insertChannel(c2);
            await append(tx);
            throw boom;
          },
          async (tx) => {
            await tx.insertChannel(c3);
            return (await append(tx)).serial;
          },
          // A failing statement (a taken name) must not spoil the transaction for the others.
          async (tx) => {
            await append(tx);
            await tx.insertChannel({ ...c4, name: c1.name });
          },
          async (tx) => {
            await tx.insertChannel(c4);
            return (await append(tx)).serial;
          },
        ]);
        assert.deepEqual(
          results.map((r) => r.status),
          ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled'],
        );
        assert.deepEqual(results[0], { status: 'fulfilled', value: 1 });
        assert.deepEqual(results[1], { status: 'rejected', reason: boom });
        assert.deepEqual(results[2], { status: 'fulfilled', value: 2 });
        assert.ok(results[3]?.status === 'rejected');
        isCode('CHANNEL_EXISTS')(results[3].reason);
        assert.deepEqual(results[4], { status: 'fulfilled', value: 3 });

        assert.deepEqual(await s.getChannel(c1.id), c1);
        assert.equal(await s.getChannel(c2.id), null);
        assert.deepEqual(await s.getChannel(c3.id), c3);
        assert.deepEqual(await s.getChannel(c4.id), c4);
        const chain = await readChain(s);
        assert.equal(chain.length, 3);
        assert.deepEqual(await s.readChangeHead(), { serial: 3, hash: chain[2]!.hash });
        assert.deepEqual(await s.transactionBatch([]), []);
      });

      it('a failed statement spoils its transaction even when the work swallows the error', async () => {
        const taken = channel();
        await s.transaction((tx) => tx.insertChannel(taken));
        const lost = channel();
        const swallowing = async (tx: StorageTx): Promise<string> => {
          await tx.insertChannel(lost);
          await tx.insertChannel({ ...channel(), name: taken.name }).catch(() => undefined);
          // Nothing more can run in this transaction.
          await assert.rejects(tx.getChannel(lost.id), isCode('INTERNAL'));
          return 'pretends to be fine';
        };
        await assert.rejects(s.transaction(swallowing), isCode('INTERNAL'));
        assert.equal(await s.getChannel(lost.id), null);

        const kept = channel();
        const results = await s.transactionBatch([swallowing, (tx) => tx.insertChannel(kept)]);
        assert.equal(results[0]?.status, 'rejected');
        isCode('INTERNAL')((results[0] as PromiseRejectedResult).reason);
        assert.equal(results[1]?.status, 'fulfilled');
        assert.equal(await s.getChannel(lost.id), null);
        assert.deepEqual(await s.getChannel(kept.id), kept);
      });

      it('reads outside a write transaction never see its uncommitted rows', { timeout: 20_000 }, async () => {
        await checkNoDirtyRead(s, true, 'rollback');
        await checkNoDirtyRead(s, true, 'commit');
      });
    });

    describe('node network', () => {
      it('keeps a channel\'s origin name only when it differs from the local one', async () => {
        const plain = channel();
        const renamed = channel({ name: 'chat:general@0a1b2c3d', originName: 'chat:general' });
        await s.transaction(async (tx) => {
          await tx.insertChannel(plain);
          await tx.insertChannel(renamed);
        });
        assert.deepEqual(await s.getChannel(plain.id), plain);
        assert.equal('originName' in (await s.getChannel(plain.id))!, false);
        assert.deepEqual(await s.getChannel(renamed.id), renamed);
        assert.deepEqual(await s.getChannelByName('chat:general@0a1b2c3d'), renamed);
        assert.equal(await s.getChannelByName('chat:general'), null, 'looked up by its local name only');
        // An update leaves the names alone.
        await s.transaction((tx) => tx.updateChannel({ ...renamed, description: 'new', updatedAt: T0 + 1 }));
        assert.deepEqual(await s.getChannel(renamed.id), { ...renamed, description: 'new', updatedAt: T0 + 1 });
        assert.deepEqual((await s.scanChannels(null, 10)).find((c) => c.id === renamed.id)?.originName, 'chat:general');
      });

      it('stores peer cursors in the transaction, replacing the previous one', async () => {
        const peer = newId();
        assert.equal(await s.getPeerCursor(peer), null);
        await s.transaction((tx) => tx.setPeerCursor({ peerNodeId: peer, serial: 7, hash: 'a'.repeat(64) }, T0));
        assert.deepEqual(await s.getPeerCursor(peer), { peerNodeId: peer, serial: 7, hash: 'a'.repeat(64) });
        await assert.rejects(
          s.transaction(async (tx) => {
            await tx.setPeerCursor({ peerNodeId: peer, serial: 9, hash: 'b'.repeat(64) }, T0 + 1);
            assert.equal((await tx.getPeerCursor(peer))?.serial, 9, 'the transaction reads its own cursor');
            throw new Error('rolled back on purpose');
          }),
          /rolled back on purpose/,
        );
        assert.equal((await s.getPeerCursor(peer))?.serial, 7, 'a rolled back import leaves the cursor');
        await s.transaction((tx) => tx.setPeerCursor({ peerNodeId: peer, serial: 2_000_000_000_123, hash: 'c'.repeat(64) }, T0 + 2));
        assert.deepEqual(await s.getPeerCursor(peer), { peerNodeId: peer, serial: 2_000_000_000_123, hash: 'c'.repeat(64) });
      });

      it('records peers, keeping when each was first seen', async () => {
        const [a, b] = [newId(), newId()].sort();
        await s.transaction(async (tx) => {
          await tx.upsertPeer({ nodeId: b!, name: 'bee', createdAt: T0 }, T0 + 10);
          await tx.upsertPeer({ nodeId: a!, name: 'ay', createdAt: T0 }, T0 + 11);
        });
        await s.transaction((tx) => tx.upsertPeer({ nodeId: b!, name: 'bee 2', createdAt: T0 + 1 }, T0 + 20));
        assert.deepEqual(await s.listPeers(), [
          { nodeId: a!, name: 'ay', createdAt: T0, firstSeenAt: T0 + 11, lastSeenAt: T0 + 11 },
          { nodeId: b!, name: 'bee 2', createdAt: T0 + 1, firstSeenAt: T0 + 10, lastSeenAt: T0 + 20 },
        ]);
      });

      it('adds, lists and deletes network servers', async () => {
        const one = { id: newId(), url: 'https://a.example', password: 'p1', role: 'child' as const, transport: 'auto' as const, createdAt: T0 };
        const two = { id: newId(), url: 'http://127.0.0.1:1', password: 'p2', role: 'both' as const, transport: 'sse' as const, createdAt: T0 + 1 };
        await s.transaction(async (tx) => {
          await tx.insertNetworkServer(two);
          await tx.insertNetworkServer(one);
        });
        assert.deepEqual(await s.listNetworkServers(), [one, two]);
        await assert.rejects(s.transaction((tx) => tx.insertNetworkServer(one)), isCode('INTERNAL'));
        assert.equal(await s.transaction((tx) => tx.deleteNetworkServer(one.id)), true);
        assert.equal(await s.transaction((tx) => tx.deleteNetworkServer(one.id)), false);
        assert.deepEqual(await s.listNetworkServers(), [two]);
        const bad = { ...two, id: newId(), role: 'sibling' as unknown as 'child' };
        await assert.rejects(s.transaction((tx) => tx.insertNetworkServer(bad)), isCode('INTERNAL'));
      });

      it('tells whether the log holds a change by origin', async () => {
        const origin = newId();
        await s.transaction(async (tx) => {
          await append(tx, origin, 41);
          await append(tx, NODE_ID);
        });
        assert.equal(await s.hasOriginChange(origin, 41), true);
        assert.equal(await s.hasOriginChange(origin, 42), false);
        assert.equal(await s.hasOriginChange(NODE_ID, 2), true);
        assert.equal(await s.hasOriginChange(newId(), 41), false);
        await s.transaction(async (tx) => {
          await append(tx, origin, 42);
          assert.equal(await tx.hasOriginChange(origin, 42), true, 'inside the transaction its own appends count');
        });
      });

      it('tells which of several origin serials the log holds, in one call', async () => {
        const origin = newId();
        await s.transaction(async (tx) => {
          await append(tx, origin, 7);
          await append(tx, origin, 9);
          await append(tx, NODE_ID);
        });
        assert.deepEqual(await s.heldOriginSerials(origin, [6, 7, 8, 9, 10]), new Set([7, 9]));
        assert.deepEqual(await s.heldOriginSerials(origin, [9, 7, 9]), new Set([7, 9]), 'order and repeats do not matter');
        assert.deepEqual(await s.heldOriginSerials(origin, []), new Set());
        assert.deepEqual(await s.heldOriginSerials(newId(), [7, 9]), new Set(), 'another origin holds nothing');
        const ownSerial = (await s.readChangeHead()).serial;
        assert.deepEqual(await s.heldOriginSerials(NODE_ID, [ownSerial, ownSerial + 1]), new Set([ownSerial]));
        const many = Array.from({ length: 5000 }, (_, i) => i + 1);
        assert.deepEqual(await s.heldOriginSerials(origin, many), new Set([7, 9]), 'thousands of serials in one call');
        await s.transaction(async (tx) => {
          await append(tx, origin, 8);
          assert.deepEqual(await tx.heldOriginSerials(origin, [7, 8, 10]), new Set([7, 8]), 'inside the transaction its own appends count');
        });
      });

      it('onLogAdvance fires once per commit that appended, with the head serial', { timeout: 20_000 }, async () => {
        const seen: number[] = [];
        const off = s.onLogAdvance((serial) => seen.push(serial));
        await s.transaction(async (tx) => {
          await append(tx);
          await append(tx);
        });
        await s.transaction((tx) => tx.insertChannel(channel())); // no append: no call
        await assert.rejects(
          s.transaction(async (tx) => {
            await append(tx);
            throw new Error('rolled back on purpose');
          }),
          /rolled back on purpose/,
        );
        const results = await s.transactionBatch([(tx) => append(tx), async () => Promise.reject(new Error('no')), (tx) => append(tx)]);
        assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
        await s.transactionBatch([async () => Promise.reject(new Error('nothing appended'))]);
        await settle();
        assert.deepEqual(seen, [2, 4]);
        // A throwing listener does not stop the others nor fail the commit.
        const other: number[] = [];
        const offThrowing = s.onLogAdvance(() => {
          throw new Error('listener fails');
        });
        const offOther = s.onLogAdvance((serial) => other.push(serial));
        await s.transaction((tx) => append(tx));
        off();
        offThrowing();
        await s.transaction((tx) => append(tx));
        offOther();
        await s.transaction((tx) => append(tx));
        await settle();
        assert.deepEqual(seen, [2, 4, 5]);
        assert.deepEqual(other, [5, 6]);
      });

      if (backend.name === 'postgres') {
        it('onLogAdvance hears the commits of another storage on the same database and schema, each head once and in order', { timeout: 30_000 }, async () => {
          const other = h.open();
          const unrelated = await backend.create();
          try {
            const here: number[] = [];
            const there: number[] = [];
            s.onLogAdvance((serial) => here.push(serial));
            other.onLogAdvance((serial) => there.push(serial));
            // Wait until both listen: a commit on each side is heard by the other.
            const waitFor = async (list: number[], serial: number, what: string): Promise<void> => {
              const deadline = Date.now() + 10_000;
              while (!list.includes(serial)) {
                if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (saw ${JSON.stringify(list)})`);
                await new Promise((r) => setTimeout(r, 10));
              }
            };
            await s.transaction((tx) => append(tx));
            await waitFor(there, 1, 'the other storage to hear commit 1');
            await other.transaction((tx) => append(tx));
            await waitFor(here, 2, 'this storage to hear commit 2');
            // Commits in another schema of the same database are not news here.
            await unrelated.storage.transaction((tx) => append(tx));
            for (let i = 0; i < 5; i++) await other.transaction((tx) => append(tx));
            await s.transaction((tx) => append(tx));
            await waitFor(here, 7, 'this storage to hear commit 7');
            await waitFor(there, 8, 'the other storage to hear commit 8');
            await new Promise((r) => setTimeout(r, 100));
            // Each side reports increasing heads, each once: a notification overtaken by a later
            // commit (the other side's 3–6 by this side's 8, say) is old news and not repeated.
            const increasing = (list: number[]): boolean => list.every((v, i) => i === 0 || v > list[i - 1]!);
            assert.ok(increasing(here), `here: ${JSON.stringify(here)}`);
            assert.ok(increasing(there), `there: ${JSON.stringify(there)}`);
            assert.equal(here.at(-1), 8);
            assert.equal(there.at(-1), 8);
          } finally {
            await unrelated.cleanup();
          }
        });

        it('onLogAdvance listens again after its connection is killed, and reports the head it missed', { timeout: 30_000 }, async () => {
          const other = h.open();
          const here: number[] = [];
          s.onLogAdvance((serial) => here.push(serial));
          const waitFor = async (pred: () => boolean, what: string): Promise<void> => {
            const deadline = Date.now() + 15_000;
            while (!pred()) {
              if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (saw ${JSON.stringify(here)})`);
              await new Promise((r) => setTimeout(r, 10));
            }
          };
          await other.transaction((tx) => append(tx));
          await waitFor(() => here.includes(1), 'commit 1');
          // Kill the listening session from the server side, then commit while nobody listens.
          const killed = await rawExec(h, 'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [`mycel-listen ${h.schema!}`]);
          assert.ok(killed.rowCount >= 1, 'the listening session was found');
          await other.transaction(async (tx) => {
            await append(tx);
            await append(tx);
          });
          await waitFor(() => here.includes(3), 'the head after reconnecting');
          await other.transaction((tx) => append(tx));
          await waitFor(() => here.includes(4), 'commit 4 on the new connection');
        });
      }
    });

    describe('lifecycle', () => {
      it('close() ends everything and later calls fail with STORAGE_UNAVAILABLE', async () => {
        const other = h.open();
        assert.equal(await other.schemaVersion(), CURRENT_SCHEMA_VERSION);
        await other.close();
        await other.close();
        await assert.rejects(other.getNode(), isCode('STORAGE_UNAVAILABLE'));
        await assert.rejects(other.transaction(async () => undefined), isCode('STORAGE_UNAVAILABLE'));
      });
    });
  });
}

/**
 * Opens a write transaction that inserts a channel, then reads that channel from outside while
 * the transaction is still open. `concurrent`: the backend can read meanwhile (SQLite file,
 * PostgreSQL) and must see nothing; otherwise (SQLite :memory:) the read must wait for the end
 * of the transaction. Either way the uncommitted row is never observed.
 */
async function checkNoDirtyRead(storage: Storage, concurrent: boolean, ending: 'commit' | 'rollback'): Promise<void> {
  const c = channel();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let signalInserted!: () => void;
  const inserted = new Promise<void>((r) => (signalInserted = r));
  const txDone = storage.transaction(async (tx) => {
    await tx.insertChannel(c);
    signalInserted();
    await gate;
    if (ending === 'rollback') throw new Error('rolled back on purpose');
  });
  await withTimeout(inserted, 5000, 'the insert inside the transaction');

  let ended = false;
  let observed: { value: Channel | null; duringTx: boolean } | undefined;
  const read = storage.getChannel(c.id).then((value) => {
    observed = { value, duringTx: !ended };
  });
  if (concurrent) {
    await withTimeout(read, 5000, 'a read outside the open transaction');
    assert.deepEqual(observed, { value: null, duringTx: true });
  } else {
    await settle();
    assert.equal(observed, undefined, 'the read waits for the open write transaction');
  }
  ended = true;
  release();
  if (ending === 'rollback') await assert.rejects(txDone, /rolled back on purpose/);
  else await txDone;
  await withTimeout(read, 5000, 'the read after the transaction ended');
  if (!observed!.duringTx) assert.deepEqual(observed!.value, ending === 'commit' ? c : null);
  assert.deepEqual(await storage.getChannel(c.id), ending === 'commit' ? c : null);
}

describe('SQLite file storage', () => {
  it('keeps the database in WAL mode', async () => {
    const h = await storageBackends.find((b) => b.name === 'sqlite')!.create();
    try {
      const rows = await rawExec(h, 'PRAGMA journal_mode');
      assert.equal(rows.rows[0]?.journal_mode, 'wal');
    } finally {
      await h.cleanup();
    }
  });
});

describe('SQLite :memory: storage', () => {
  it('reads outside a write transaction wait for it and never see uncommitted rows', { timeout: 20_000 }, async () => {
    const storage = createStorage({ url: ':memory:', dataDir: '/nonexistent' });
    try {
      await storage.migrate();
      await checkNoDirtyRead(storage, false, 'rollback');
      await checkNoDirtyRead(storage, false, 'commit');
    } finally {
      await storage.close();
    }
  });
});

describe('createStorage', () => {
  it('opens SQLite in the data dir (creating it), at a path, or in memory', async (t) => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const root = mkdtempSync(join(tmpdir(), 'mycel-factory-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const dataDir = join(root, 'nested', 'data');
    const a = createStorage({ url: 'sqlite', dataDir });
    await a.migrate();
    await a.close();
    assert.ok(existsSync(join(dataDir, 'mycel.db')));
    const b = createStorage({ url: `sqlite:${join(root, 'other.db')}`, dataDir });
    assert.equal(b.dialect, 'sqlite');
    await b.migrate();
    await b.close();
    assert.ok(existsSync(join(root, 'other.db')));
    const m = createStorage({ url: ':memory:', dataDir });
    assert.deepEqual((await m.migrate()).from, 0);
    await m.close();
  });

  it('refuses an unknown database URL with CONFIG_INVALID naming database.url', () => {
    for (const url of ['mysql://localhost/db', 'sqlite:', 'postgres', '']) {
      assert.throws(
        () => createStorage({ url, dataDir: '/nonexistent' }),
        (err: unknown) => err instanceof MycelError && err.code === 'CONFIG_INVALID' && err.details?.key === 'database.url',
      );
    }
  });

  it('reports an unreachable PostgreSQL as STORAGE_UNAVAILABLE', { timeout: 20_000 }, async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const storage = createStorage({ url: 'postgres://mycel@127.0.0.1:1/mycel', dataDir: '/nonexistent' });
    try {
      await assert.rejects(storage.getNode(), isCode('STORAGE_UNAVAILABLE'));
      await assert.rejects(storage.migrate(), isCode('STORAGE_UNAVAILABLE'));
      await assert.rejects(storage.transaction(async () => 1), isCode('STORAGE_UNAVAILABLE'));
    } finally {
      await storage.close();
    }
  });

  it('reports an unopenable SQLite path as STORAGE_UNAVAILABLE', () => {
    assert.throws(() => createStorage({ url: 'sqlite:/nonexistent-dir/x/mycel.db', dataDir: '/x' }), isCode('STORAGE_UNAVAILABLE'));
  });
});
