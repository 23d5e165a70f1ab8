// Durable posts per second on SQLite: through the domain API, through HTTP, and the limit
// (a bare better-sqlite3 insert loop of the same rows, same pragmas, in one run).
// Usage: npm run bench -- posts-write [--posts N] [--http-posts N] [--concurrency N]
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { OWNER } from '../src/domain/actor.js';
import { newId } from '../src/lib/ids.js';
import { createStorage } from '../src/storage/index.js';
import { openTestCore } from '../test/helpers/core.js';
import { startMycel } from '../test/helpers/process.js';

const { values } = parseArgs({
  options: {
    posts: { type: 'string', default: '100000' },
    'http-posts': { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '2000' },
  },
});
const POSTS = Number(values.posts);
const HTTP_POSTS = Number(values['http-posts']);
const CONCURRENCY = Number(values.concurrency);

function body(i: number): string {
  return `post number ${i}: the quick brown fox jumps over the lazy dog`;
}

/** The limit: the same rows inserted by a bare loop, 1,000 per transaction, WAL + synchronous=FULL. */
function bareLoop(dir: string): number {
  const db = new Database(join(dir, 'bare.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`CREATE TABLE posts (id TEXT PRIMARY KEY, channel_id TEXT, seq INTEGER, author TEXT, body TEXT, meta TEXT, blob_refs TEXT,
    origin_node_id TEXT, created_at INTEGER, updated_at INTEGER, edited INTEGER, deleted INTEGER, UNIQUE (channel_id, seq));
    CREATE TABLE changes (serial INTEGER PRIMARY KEY, origin_node_id TEXT, origin_serial INTEGER, type TEXT, payload_version INTEGER,
    payload TEXT, created_at INTEGER, prev_hash TEXT, hash TEXT, UNIQUE (origin_node_id, origin_serial));`);
  const insertPost = db.prepare('INSERT INTO posts VALUES (?,?,?,?,?,?,?,?,?,?,?,?)');
  const insertChange = db.prepare('INSERT INTO changes VALUES (?,?,?,?,?,?,?,?,?)');
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const now = Date.now();
      const id = newId();
      insertPost.run(id, 'c', i + 1, 'owner', body(i), '{}', '[]', 'n', now, now, 0, 0);
      insertChange.run(i + 1, 'n', i + 1, 'post.created', 1, JSON.stringify({ id, body: body(i) }), now, '0'.repeat(64), '0'.repeat(64));
    }
  });
  const t0 = performance.now();
  for (let i = 0; i < POSTS; i += 1000) batch(i, Math.min(POSTS, i + 1000));
  const secs = (performance.now() - t0) / 1000;
  db.close();
  return POSTS / secs;
}

/** Through the domain: POSTS createPost calls, CONCURRENCY in flight; each resolves after its commit. */
async function domainApi(dir: string): Promise<number> {
  const storage = createStorage({ url: 'sqlite', dataDir: join(dir, 'domain') });
  const core = await openTestCore(storage);
  const ch = await core.operator.createChannel(OWNER, { name: 'bench' });
  let next = 0;
  let acked = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, POSTS) }, async () => {
      while (next < POSTS) {
        const i = next++;
        await core.operator.createPost(OWNER, { channelId: ch.id, body: body(i) });
        acked++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  if (acked !== POSTS || (await storage.countChanges()) !== POSTS + 1) throw new Error('lost writes');
  await core.close();
  return POSTS / secs;
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

/** Through HTTP: a `mycel serve` child process, an undici pool of 64 connections from this one. */
async function http(dir: string): Promise<{ rate: number; serverCpuUsPerPost: number }> {
  const node = await startMycel({ MYCEL_DB_DIR: join(dir, 'http'), MYCEL_OWNER_PASSWORD: 'bench-password' });
  try {
    const pool = new Pool(node.url, { connections: 64, pipelining: 1 });
    const login = await pool.request({ method: 'POST', path: '/api/v1/session', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: 'bench-password' }) });
    const { token } = (await login.body.json()) as { token: string };
    const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const chRes = await pool.request({ method: 'POST', path: '/api/v1/channels', headers: auth, body: JSON.stringify({ name: 'bench' }) });
    const ch = (await chRes.body.json()) as { id: string };
    let next = 0;
    let acked = 0;
    const cpu0 = cpuSeconds(node.child.pid!);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 256 }, async () => {
        while (next < HTTP_POSTS) {
          const i = next++;
          const res = await pool.request({ method: 'POST', path: `/api/v1/channels/${ch.id}/posts`, headers: auth, body: JSON.stringify({ body: body(i) }) });
          await res.body.dump();
          if (res.statusCode !== 201) throw new Error(`HTTP ${res.statusCode}`);
          acked++;
        }
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(node.child.pid!) - cpu0;
    await pool.close();
    if (acked !== HTTP_POSTS) throw new Error('lost writes');
    return { rate: HTTP_POSTS / secs, serverCpuUsPerPost: (cpu * 1e6) / HTTP_POSTS };
  } finally {
    await node.stop();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'mycel-bench-'));
try {
  const bare = bareLoop(dir);
  const domain = await domainApi(dir);
  const viaHttp = await http(dir);
  const fmt = (n: number) => n.toFixed(0).padStart(9);
  console.log(`posts-write on SQLite (WAL, synchronous=FULL), node ${process.version}`);
  console.log(`${'name'.padEnd(28)}${'posts/s'.padStart(9)}  ratio to bare loop`);
  console.log(`${'bare better-sqlite3 loop'.padEnd(28)}${fmt(bare)}  1.00`);
  console.log(`${'mycel domain API'.padEnd(28)}${fmt(domain)}  ${(domain / bare).toFixed(2)}   (${POSTS} posts, ${CONCURRENCY} in flight)`);
  console.log(`${'mycel HTTP API'.padEnd(28)}${fmt(viaHttp.rate)}  ${(viaHttp.rate / bare).toFixed(2)}   (${HTTP_POSTS} posts, 256 in flight, 64 connections; server CPU ${viaHttp.serverCpuUsPerPost.toFixed(0)} µs/post, client in this process)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
