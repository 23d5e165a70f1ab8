// Everything acknowledged is durable, on SQLite and on PostgreSQL: a real `mycel serve` taking
// writes of every kind (posts, edits, deletes, links and link deletes over REST, publications
// into a persisted realtime namespace over WebSocket) is SIGKILLed mid-load, several times.
// After each kill `mycel verify` walks the change log, and after each restart every
// acknowledged write is there in its acknowledged final state, a write that was in flight at
// the kill is either fully there or not at all, and nothing appears twice or out of nowhere.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { Pool } from 'undici';
import { runMycel, startMycel, type ServingNode } from '../helpers/process.js';
import { processDatabase, type BackendName } from '../helpers/storage.js';
import { API_KEY, sign, waitEvent, wsCentrifuge } from '../integration/realtime-harness.js';

const PASSWORD = 'durable-pw';
const ROUNDS = 3;
/** Acknowledged writes per round before the kill. */
const ACKS_BEFORE_KILL = 400;
/** One round may not take longer than this to reach ACKS_BEFORE_KILL. */
const ROUND_MS = 30_000;
const POST_WORKERS = 10;
const LINK_WORKERS = 3;
const PUBLISHERS = 3;
const CHANNEL = 'durable';
const FEED = 'durable:feed';
const CONFIG = `realtime:\n  namespaces:\n    durable:\n      persist: true\n      historySize: 10\n`;
const DELETED = '\u0000deleted';

/** The states a record may be in after the restart: one once known, two while a write was in flight. */
type Possible = Set<string>;

/** What the test knows of the node's content, across rounds. */
interface Model {
  channelId: string;
  /** post id → possible states (its body, or DELETED). */
  posts: Map<string, Possible>;
  /** Bodies of post creations that were sent but not acknowledged in the last round. */
  pendingPosts: Set<string>;
  /** Posts that links start from and point to (never deleted). */
  linkPosts: string[];
  /** link id → possible presence ('present' / 'absent'). */
  links: Map<string, Possible>;
  /** Labels of link creations that were sent but not acknowledged in the last round. */
  pendingLinks: Set<string>;
  /** Bodies of acknowledged publications into FEED. */
  published: Set<string>;
  /** Bodies of publications that were sent but not acknowledged in the last round. */
  pendingPublished: Set<string>;
}

/** The tag that makes a post unique: its creation body, which edits extend with `~n`. */
const tagOf = (body: string): string => body.split('~')[0]!;

interface Api {
  request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

async function api(node: ServingNode): Promise<Api> {
  const pool = new Pool(node.url, { connections: 24 });
  const json = { 'content-type': 'application/json' };
  const login = await pool.request({ method: 'POST', path: '/api/v1/session', headers: json, body: JSON.stringify({ password: PASSWORD }) });
  assert.equal(login.statusCode, 201);
  const { token } = (await login.body.json()) as { token: string };
  return {
    async request<T>(method: string, path: string, body?: unknown) {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await pool.request({ method: method as 'GET', path, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.body.text();
      return { status: res.statusCode, body: (text === '' ? {} : JSON.parse(text)) as T };
    },
    close: () => pool.close(),
  };
}

interface StoredPost {
  id: string;
  body: string;
  deleted: boolean;
}

async function allPosts(client: Api, channelId: string): Promise<StoredPost[]> {
  const out: StoredPost[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const res: { status: number; body: { items: StoredPost[]; nextCursor: string | null } } = await client.request('GET', `/api/v1/channels/${channelId}/posts?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(res.status, 200);
    out.push(...res.body.items);
    cursor = res.body.nextCursor;
    if (!cursor) return out;
  }
  throw new Error('too many pages');
}

/** Records that a write was acknowledged (`state` is now the only possibility) or is in doubt. */
function settle(possible: Possible, state: string, acked: boolean): void {
  if (acked) possible.clear();
  possible.add(state);
}

/**
 * Compares the restarted node with the model, then narrows the model to what is there:
 * a write that was in doubt is now known to have happened or not.
 */
async function check(client: Api, model: Model, round: number): Promise<void> {
  const where = `after kill ${round}`;
  const stored = await allPosts(client, model.channelId);
  const byId = new Map(stored.map((p) => [p.id, p]));
  const tags = new Map<string, number>();
  for (const p of stored) if (!p.deleted) tags.set(tagOf(p.body), (tags.get(tagOf(p.body)) ?? 0) + 1);
  const twice = [...tags].filter(([, n]) => n > 1).map(([t]) => t);
  assert.deepEqual(twice, [], `${where}: posts stored twice`);

  const missing: string[] = [];
  const wrong: string[] = [];
  for (const [id, possible] of model.posts) {
    const p = byId.get(id);
    if (!p) {
      missing.push(id);
      continue;
    }
    const state = p.deleted ? DELETED : p.body;
    if (!possible.has(state)) wrong.push(`${id}: ${JSON.stringify(state)} not in ${JSON.stringify([...possible])}`);
    else settle(possible, state, true);
  }
  assert.deepEqual(missing, [], `${where}: ${missing.length} of ${model.posts.size} acknowledged posts are missing`);
  assert.deepEqual(wrong, [], `${where}: posts not in their acknowledged state`);
  const strangers = stored.filter((p) => !model.posts.has(p.id));
  for (const p of strangers) {
    assert.ok(!p.deleted && model.pendingPosts.has(p.body), `${where}: post ${p.id} (${JSON.stringify(p.body)}) was never sent`);
    model.posts.set(p.id, new Set([p.body]));
  }
  model.pendingPosts.clear();

  const linksById = new Map<string, string>();
  for (const postId of model.linkPosts) {
    const res = await client.request<{ items: Array<{ id: string; label: string | null }> }>('GET', `/api/v1/posts/${postId}/links`);
    assert.equal(res.status, 200);
    for (const l of res.body.items) linksById.set(l.id, l.label ?? '');
  }
  const labels = new Map<string, number>();
  for (const label of linksById.values()) labels.set(label, (labels.get(label) ?? 0) + 1);
  assert.deepEqual([...labels].filter(([, n]) => n > 1).map(([l]) => l), [], `${where}: links stored twice`);
  const wrongLinks: string[] = [];
  for (const [id, possible] of model.links) {
    const state = linksById.has(id) ? 'present' : 'absent';
    if (!possible.has(state)) wrongLinks.push(`${id}: ${state}, acknowledged ${[...possible].join('/')}`);
    else settle(possible, state, true);
  }
  assert.deepEqual(wrongLinks, [], `${where}: links not in their acknowledged state`);
  for (const [id, label] of linksById) {
    if (model.links.has(id)) continue;
    assert.ok(model.pendingLinks.has(label), `${where}: link ${id} (${label}) was never sent`);
    model.links.set(id, new Set(['present']));
  }
  model.pendingLinks.clear();

  const channels = await client.request<{ items: Array<{ id: string; name: string }> }>('GET', '/api/v1/channels?limit=1000');
  const feed = channels.body.items.find((c) => c.name === FEED);
  const feedBodies = feed ? (await allPosts(client, feed.id)).map((p) => p.body) : [];
  const counts = new Map<string, number>();
  for (const b of feedBodies) counts.set(b, (counts.get(b) ?? 0) + 1);
  assert.deepEqual([...counts].filter(([, n]) => n > 1).map(([b]) => b), [], `${where}: publications stored twice`);
  const lost = [...model.published].filter((b) => !counts.has(b));
  assert.deepEqual(lost, [], `${where}: ${lost.length} of ${model.published.size} acknowledged publications are missing`);
  for (const b of counts.keys()) {
    if (model.published.has(b)) continue;
    assert.ok(model.pendingPublished.has(b), `${where}: publication ${JSON.stringify(b)} was never sent`);
    model.published.add(b);
  }
  model.pendingPublished.clear();
}

/** Writes of every kind until ACKS_BEFORE_KILL were acknowledged, then SIGKILL; returns the acks per kind. */
async function loadAndKill(node: ServingNode, client: Api, model: Model, round: number): Promise<Record<string, number>> {
  const acks: Record<string, number> = { post: 0, edit: 0, delete: 0, link: 0, unlink: 0, publish: 0 };
  let total = 0;
  let killed = false;
  const deadline = Date.now() + ROUND_MS;
  let seq = 0;
  const ack = (kind: string): void => {
    acks[kind]!++;
    total++;
    if (!killed && total >= ACKS_BEFORE_KILL) {
      killed = true;
      node.child.kill('SIGKILL');
    }
  };
  const running = (): boolean => {
    if (killed) return false;
    if (Date.now() > deadline) throw new Error(`round ${round}: only ${total} writes acknowledged in ${ROUND_MS} ms`);
    return true;
  };
  /** Runs one request; undefined when it failed because of the kill. */
  const attempt = async <T>(method: string, path: string, body: unknown, ok: number): Promise<T | undefined> => {
    let res: { status: number; body: T };
    try {
      res = await client.request<T>(method, path, body);
    } catch (err) {
      if (killed) return undefined;
      throw err;
    }
    assert.equal(res.status, ok, `${method} ${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };

  // Workers also edit and delete what earlier rounds wrote (its state is settled by check()).
  const only = (possible: Possible): string | undefined => (possible.size === 1 ? [...possible][0] : undefined);
  const earlierPosts = [...model.posts]
    .filter(([id, possible]) => !model.linkPosts.includes(id) && only(possible) !== undefined && only(possible) !== DELETED)
    .map(([id, possible]) => ({ id, body: only(possible)!, edits: Number(only(possible)!.split('~')[1] ?? 0) }));
  const earlierLinks = [...model.links].filter(([, possible]) => only(possible) === 'present').map(([id]) => id);

  const postWorker = async (w: number): Promise<void> => {
    const mine = earlierPosts.filter((_, i) => i % POST_WORKERS === w);
    while (running()) {
      const n = seq++;
      const pick = mine.length === 0 ? 0 : n % 10;
      if (pick < 5) {
        const body = `p${round}-${w}-${n}`;
        model.pendingPosts.add(body);
        const post = await attempt<{ id: string }>('POST', `/api/v1/channels/${model.channelId}/posts`, { body }, 201);
        if (!post) return;
        model.pendingPosts.delete(body);
        model.posts.set(post.id, new Set([body]));
        mine.push({ id: post.id, body, edits: 0 });
        ack('post');
      } else if (pick < 8) {
        const target = mine[n % mine.length]!;
        const body = `${tagOf(target.body)}~${++target.edits}`;
        const res = await attempt('PATCH', `/api/v1/posts/${target.id}`, { body }, 200);
        settle(model.posts.get(target.id)!, body, res !== undefined);
        if (!res) return;
        target.body = body;
        ack('edit');
      } else {
        const [target] = mine.splice(n % mine.length, 1);
        const res = await attempt('DELETE', `/api/v1/posts/${target!.id}`, undefined, 200);
        settle(model.posts.get(target!.id)!, DELETED, res !== undefined);
        if (!res) return;
        ack('delete');
      }
    }
  };

  const linkWorker = async (w: number): Promise<void> => {
    const mine = earlierLinks.filter((_, i) => i % LINK_WORKERS === w);
    while (running()) {
      const n = seq++;
      const from = model.linkPosts[n % model.linkPosts.length]!;
      const to = model.linkPosts[(n + 1 + w) % model.linkPosts.length]!;
      if (mine.length === 0 || n % 3 !== 0) {
        const label = `l${round}-${w}-${n}`;
        model.pendingLinks.add(label);
        const link = await attempt<{ id: string }>('POST', '/api/v1/links', { fromPostId: from, toPostId: to, label }, 201);
        if (!link) return;
        model.pendingLinks.delete(label);
        model.links.set(link.id, new Set(['present']));
        mine.push(link.id);
        ack('link');
      } else {
        const [id] = mine.splice(n % mine.length, 1);
        const res = await attempt('DELETE', `/api/v1/links/${id!}`, undefined, 204);
        settle(model.links.get(id!)!, 'absent', res !== undefined);
        if (!res) return;
        ack('unlink');
      }
    }
  };

  const wsUrl = `${node.url.replace(/^http/, 'ws')}/connection/websocket`;
  const publishers: Centrifuge[] = [];
  const publisher = async (w: number): Promise<void> => {
    // A commit may take a while on a machine busy with other tests: a publish that times out
    // before the kill would fail the test as if it had been refused.
    const c = wsCentrifuge(wsUrl, { token: await sign({ sub: `writer-${w}` }), timeout: 15_000 });
    c.on('error', () => {});
    publishers.push(c);
    const connected = waitEvent(c, 'connected', () => true, 15_000);
    c.connect();
    await connected;
    while (running()) {
      const body = `r${round}-${w}-${seq++}`;
      model.pendingPublished.add(body);
      try {
        await c.publish(FEED, { body });
      } catch (err) {
        if (killed) return;
        throw err;
      }
      model.pendingPublished.delete(body);
      model.published.add(body);
      ack('publish');
    }
  };

  try {
    await Promise.all([
      ...Array.from({ length: POST_WORKERS }, (_, w) => postWorker(w)),
      ...Array.from({ length: LINK_WORKERS }, (_, w) => linkWorker(w)),
      ...Array.from({ length: PUBLISHERS }, (_, w) => publisher(w)),
    ]);
  } finally {
    for (const c of publishers) c.disconnect();
    if (!killed) node.child.kill('SIGKILL');
  }
  const exit = await node.stop('SIGKILL');
  assert.equal(exit.signal, 'SIGKILL', `round ${round}: the node was not killed but exited with ${exit.code}`);
  return acks;
}

/** A fresh database of `backend` for the node, with its owner password and API key. */
const database = (backend: BackendName, dir: string) => processDatabase(backend, dir, { MYCEL_OWNER_PASSWORD: PASSWORD, MYCEL_API_KEY: API_KEY });

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`durability (${backend})`, () => {
    it(`every write acknowledged before a SIGKILL survives, ${ROUNDS} kills under concurrent writers of every kind`, { timeout: 180_000 }, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'mycel-durable-'));
      const configFile = join(dir, 'mycel.yaml');
      writeFileSync(configFile, CONFIG);
      const db = await database(backend, dir);
      const args = ['--config', configFile];
      try {
        const model: Model = {
          channelId: '',
          posts: new Map(),
          pendingPosts: new Set(),
          linkPosts: [],
          links: new Map(),
          pendingLinks: new Set(),
          published: new Set(),
          pendingPublished: new Set(),
        };
        for (let round = 0; round <= ROUNDS; round++) {
          const node = await startMycel(db.env, args);
          let client: Api | undefined;
          try {
            client = await api(node);
            const session: Api = client;
            if (round === 0) {
              const ch = await session.request<{ id: string }>('POST', '/api/v1/channels', { name: CHANNEL });
              assert.equal(ch.status, 201);
              model.channelId = ch.body.id;
              for (let i = 0; i < 6; i++) {
                const p = await session.request<{ id: string }>('POST', `/api/v1/channels/${model.channelId}/posts`, { body: `anchor-${i}` });
                assert.equal(p.status, 201);
                model.linkPosts.push(p.body.id);
                model.posts.set(p.body.id, new Set([`anchor-${i}`]));
              }
            } else {
              await check(session, model, round);
            }
            if (round === ROUNDS) break;
            const acks = await loadAndKill(node, session, model, round + 1);
            t.diagnostic(`round ${round + 1}: acknowledged ${JSON.stringify(acks)}; in flight at the kill: ${model.pendingPosts.size} posts, ${model.pendingLinks.size} links, ${model.pendingPublished.size} publications`);
          } finally {
            await client?.close().catch(() => undefined);
            await node.stop();
          }
          const verify = await runMycel(['verify', '--json', ...args], db.env);
          assert.equal(verify.code, 0, verify.stdout + verify.stderr);
          assert.equal((JSON.parse(verify.stdout) as { ok: boolean }).ok, true, verify.stdout);
        }
        assert.ok(model.published.size > 0 && model.links.size > 0, 'the load wrote no publications or links');
      } finally {
        await db.cleanup();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
