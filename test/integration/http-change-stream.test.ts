// GET /api/v1/changes/stream over a real socket (undici), on SQLite and PostgreSQL: catch-up in
// pages then live, resume from Last-Event-ID, a user's view filtered by its read rights, a
// slow reader that stops the server reading pages instead of growing it, the credential checked
// again at heartbeats, and a clean end on shutdown.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { OWNER } from '../../src/domain/actor.js';
import type { Change } from '../../src/model/content.js';
import { storageBackends } from '../helpers/storage.js';
import { openTestCore } from '../helpers/core.js';
import { bearer, OWNER_PASSWORD, startHarness, type Harness } from './http-harness.js';

interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
}

/** Reads an SSE body: events and comments, in order, as they arrive. */
class SseReader {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  ended = false;
  private buffer = '';
  private waiters: Array<() => void> = [];
  constructor(readonly body: NodeJS.ReadableStream & { destroy(): void; pause(): void; resume(): void }) {
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      this.buffer += chunk;
      let at: number;
      while ((at = this.buffer.indexOf('\n\n')) !== -1) {
        const block = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + 2);
        const event: SseEvent = {};
        let isComment = true;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) {
            this.comments.push(line.slice(1).trim());
            continue;
          }
          isComment = false;
          const i = line.indexOf(':');
          const field = line.slice(0, i);
          const value = line.slice(i + 1).replace(/^ /, '');
          if (field === 'id' || field === 'event' || field === 'data') event[field] = value;
        }
        if (!isComment) this.events.push(event);
      }
      this.notify();
    });
    body.on('end', () => {
      this.ended = true;
      this.notify();
    });
    body.on('error', () => {
      this.ended = true;
      this.notify();
    });
  }
  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  async until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${this.events.length} events, comments ${this.comments.join(',')}`);
      if (this.ended && !cond()) throw new Error(`stream ended while waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
  changes(): Change[] {
    return this.events.filter((e) => e.event === 'change').map((e) => JSON.parse(e.data!) as Change);
  }
  close(): void {
    this.body.destroy();
  }
}

async function listen(h: Harness): Promise<string> {
  const url = await h.app.listen({ host: '127.0.0.1', port: 0 });
  return url;
}

async function open(url: string, token: string, options: { query?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; reader: SseReader; headers: Record<string, unknown> }> {
  const res = await request(`${url}/api/v1/changes/stream${options.query ?? ''}`, { headers: { ...bearer(token), ...options.headers }, headersTimeout: 10_000, bodyTimeout: 0 });
  return { status: res.statusCode, headers: res.headers, reader: new SseReader(res.body as never) };
}

for (const backend of storageBackends) {
  describe(`change stream on ${backend.name}`, () => {
    let h: Harness;
    let url: string;
    let owner: string;
    let openChannel: string;
    const readers: SseReader[] = [];

    before(async () => {
      h = await startHarness(backend, {
        changeStreamHeartbeatMs: 300,
        config: { realtime: { namespaces: { open: {}, closed: { subscribe: 'owner', publish: 'owner', history: 'owner', presence: 'owner' } } } },
      });
      url = await listen(h);
      owner = await h.login();
      openChannel = (await h.core.operator.createChannel(OWNER, { name: 'open:feed' })).id;
      for (let i = 0; i < 230; i++) await h.core.operator.createPost(OWNER, { channelId: openChannel, body: `p${i}` });
    });
    after(async () => {
      for (const r of readers) r.close();
      await h.close();
    });

    test('catch-up in pages, `: live`, then live changes as they commit', async () => {
      const head = (await h.core.storage.readChangeHead()).serial;
      const { status, headers, reader } = await open(url, owner);
      readers.push(reader);
      assert.equal(status, 200);
      assert.match(String(headers['content-type']), /^text\/event-stream/);
      await reader.until('live', () => reader.comments.includes('live'));
      const caught = reader.changes();
      assert.deepEqual(caught.map((c) => c.serial), Array.from({ length: head }, (_, i) => i + 1), 'every change once, in order');
      assert.deepEqual(reader.events.filter((e) => e.event === 'change').map((e) => Number(e.id)), caught.map((c) => c.serial), 'id = serial');
      assert.deepEqual(caught[5], (await h.core.storage.getChanges(6, 1))[0]);
      const post = await h.core.operator.createPost(OWNER, { channelId: openChannel, body: 'live one' });
      await reader.until('the live change', () => reader.changes().length === head + 1);
      const live = reader.changes().at(-1)!;
      assert.equal(live.serial, head + 1);
      assert.equal((live.payload as { post: { id: string } }).post.id, post.id);
      // Quiet: heartbeats keep it open.
      await reader.until('a heartbeat', () => reader.comments.includes('heartbeat'), 3000);
      reader.close();
    });

    test('resume: Last-Event-ID, or ?after= (which wins)', async () => {
      const byHeader = await open(url, owner, { headers: { 'last-event-id': '200' } });
      readers.push(byHeader.reader);
      await byHeader.reader.until('live', () => byHeader.reader.comments.includes('live'));
      assert.equal(byHeader.reader.changes()[0]?.serial, 201);
      byHeader.reader.close();
      const byQuery = await open(url, owner, { query: '?after=225', headers: { 'last-event-id': '3' } });
      readers.push(byQuery.reader);
      await byQuery.reader.until('live', () => byQuery.reader.comments.includes('live'));
      assert.equal(byQuery.reader.changes()[0]?.serial, 226);
      byQuery.reader.close();
      const bad = await request(`${url}/api/v1/changes/stream`, { headers: { ...bearer(owner), 'last-event-id': 'abc' } });
      assert.equal(bad.statusCode, 400);
      assert.equal(((await bad.body.json()) as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
    });

    test('a user sees the changes of channels it may read; Last-Event-ID moves past the rest', async () => {
      const closed = await h.core.operator.createChannel(OWNER, { name: 'closed:secret' });
      const hiddenPost = await h.core.operator.createPost(OWNER, { channelId: closed.id, body: 'hidden' });
      const from = (await h.core.storage.readChangeHead()).serial;
      const { status, reader } = await open(url, 'user.alice', { query: `?after=${from - 2}` });
      readers.push(reader);
      assert.equal(status, 200);
      await reader.until('live', () => reader.comments.includes('live'));
      assert.deepEqual(reader.changes(), [], 'both changes of the closed channel are hidden');
      assert.equal(reader.events.at(-1)?.id, String(from), 'an id-only event carries the cursor past them');
      assert.equal(reader.events.at(-1)?.data, undefined);
      const visible = await h.core.operator.createPost({ kind: 'user', userId: 'alice' }, { channelId: openChannel, body: 'mine' });
      await h.core.operator.editPost(OWNER, hiddenPost.id, { body: 'still hidden' });
      await h.core.operator.createPost(OWNER, { channelId: openChannel, body: 'after' });
      await reader.until('two visible changes', () => reader.changes().length === 2);
      const seen = reader.changes();
      assert.equal((seen[0]!.payload as { post: { id: string } }).post.id, visible.id);
      assert.ok(!JSON.stringify(reader.events).includes(closed.id) && !JSON.stringify(reader.events).includes('hidden'), 'nothing of the closed channel');
      reader.close();
      // GET /api/v1/changes gives the user the same view.
      const page = await h.app.inject({ method: 'GET', url: `/api/v1/changes?from=${from - 1}`, headers: bearer('user.alice') });
      assert.equal(page.statusCode, 200, page.body);
      const body = page.json() as { items: Change[]; next: number };
      assert.deepEqual(body.items.map((c) => c.serial), seen.map((c) => c.serial));
      assert.equal(body.next, (await h.core.storage.readChangeHead()).serial + 1);
    });

    test('commits wake the stream, not a poll: this instance’s, and (PostgreSQL: LISTEN/NOTIFY) another instance’s on the same database', async () => {
      // A heartbeat of a minute: the loop reads again only when the log advances.
      const quiet = await startHarness(backend, { changeStreamHeartbeatMs: 60_000 });
      const others: Array<{ close(): Promise<void> }> = [];
      try {
        const quietUrl = await listen(quiet);
        const channelId = (await quiet.core.operator.createChannel(OWNER, { name: 'users:wake' })).id;
        const { reader } = await open(quietUrl, await quiet.login());
        readers.push(reader);
        await reader.until('live', () => reader.comments.includes('live'));
        const has = (id: string) => () => reader.changes().some((c) => (c.payload as { post?: { id: string } }).post?.id === id);
        const here = await quiet.core.operator.createPost(OWNER, { channelId, body: 'this instance' });
        await reader.until('this instance’s change', has(here.id), 5000);
        if (backend.name === 'postgres') {
          const other = await openTestCore(quiet.handle.open(), { name: 'http-test', ownerPassword: OWNER_PASSWORD });
          others.push(other);
          const there = await other.operator.createPost(OWNER, { channelId, body: 'another instance' });
          await reader.until('the other instance’s change', has(there.id), 5000);
        }
        assert.ok(!reader.comments.includes('heartbeat'));
        reader.close();
      } finally {
        for (const o of others) await o.close();
        await quiet.close();
      }
    });

    test('a node without owner rights is refused before the stream starts', async () => {
      const nodeId = '0190a000-0000-7000-8000-00000000feed';
      await h.core.clientNodes.register(OWNER, { nodeId, password: 'node-secret-1' });
      const { token } = await h.core.nodeSessions.login(nodeId, 'node-secret-1');
      const res = await request(`${url}/api/v1/changes/stream`, { headers: bearer(token) });
      assert.equal(res.statusCode, 403);
      await res.body.dump();
    });

    test('an ended session ends the stream at the next heartbeat with event: error', async () => {
      const token = await h.login();
      const { reader } = await open(url, token);
      readers.push(reader);
      await reader.until('live', () => reader.comments.includes('live'));
      const out = await h.app.inject({ method: 'DELETE', url: '/api/v1/session', headers: bearer(token) });
      assert.equal(out.statusCode, 204);
      await reader.until('the error event', () => reader.events.some((e) => e.event === 'error'), 5000);
      const error = JSON.parse(reader.events.find((e) => e.event === 'error')!.data!) as { code: string };
      assert.equal(error.code, 'UNAUTHENTICATED');
      await reader.until('the end', () => reader.ended, 5000);
    });

    test('a slow reader: the server stops reading pages while the socket is full, and nothing is lost', async () => {
      const big = (await h.core.operator.createChannel(OWNER, { name: 'open:big' })).id;
      const body = 'x'.repeat(16_000);
      const start = (await h.core.storage.readChangeHead()).serial;
      const total = 1500;
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < total; i++) writes.push(h.core.operator.createPost(OWNER, { channelId: big, body }));
      await Promise.all(writes);
      let pagesRead = 0;
      const original = h.core.operator.getChanges.bind(h.core.operator);
      h.core.operator.getChanges = (actor, options) => {
        pagesRead++;
        return original(actor, options);
      };
      try {
        const { reader } = await open(url, owner, { query: `?after=${start}` });
        readers.push(reader);
        reader.body.pause();
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const whilePaused = pagesRead;
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.equal(pagesRead, whilePaused, 'no page is read while the socket is full');
        assert.ok(whilePaused < total / 100 / 2, `read ${whilePaused} of ${total / 100} pages for a reader that took nothing`);
        reader.body.resume();
        await reader.until('everything', () => reader.comments.includes('live'), 60_000);
        const got = reader.changes().map((c) => c.serial);
        assert.equal(got.length, total);
        assert.equal(got[0], start + 1);
        assert.equal(got.at(-1), start + total);
        reader.close();
      } finally {
        h.core.operator.getChanges = original;
      }
    });

    test('closing the app ends open streams', async () => {
      const { reader } = await open(url, owner, { query: '?after=0' });
      readers.push(reader);
      await reader.until('live', () => reader.comments.includes('live'), 30_000);
      const closing = h.app.close();
      await reader.until('the end', () => reader.ended, 5000);
      await closing;
    });
  });
}
