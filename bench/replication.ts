// Replication import on SQLite (WAL, synchronous=FULL): how fast a fresh child takes in a
// parent's change log. In one run:
//   (a) the bare-import limit: the child applies the changes from a local file in large
//       transactions through the same checks, apply and append code (replication.ts
//       checkChunk + importIntoUnit), no Writer, no chunking;
//   (b) importChunk: the same changes in chunks (default 100) through the Writer's group
//       commit, a window of chunks in flight (default 16, a puller's default credit), in-process;
//   (c) over the network: a parent `mycel serve` on the same data and a fresh child `mycel
//       serve` that connects to it over loopback (WebSocket link) and catches up — see
//       overTheNetwork();
//   (d) live propagation: with the two connected, posts written on the parent over REST at a
//       steady rate, and per post the time from its change's createdAt on the parent to its
//       arrival on the child's change feed (GET /api/v1/changes/stream) — see live().
// Usage: npm run bench -- replication [--changes N] [--tx N] [--chunk N] [--window N]
//          [--net-chunk N] [--net-window N] [--live-seconds S] [--rate R] [--cpu-prof DIR] [--floor]
// (--floor adds the SQLite floor: every statement the bare import ran, with its parameters,
// replayed on another fresh child with no JavaScript of the import in between, then its INSERTs
// alone — see sqliteFloor() —, and the cost of parsing and checking each change — checksOnly();
// the two together bound any import on one thread.)
// (MYCEL_BENCH_CHANGES=N also sets --changes; default 200000. --live-seconds 0 skips (d).
// --cpu-prof DIR writes a V8 profile of the parent and of the child `mycel serve` into DIR
// (one file each, named by pid; the parent's pid is logged), for bench/_lib/cpuprofile-top.ts;
// not for reporting numbers.)
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { Pool } from 'undici';
import { OWNER } from '../src/domain/actor.js';
import { contentDigest } from '../src/domain/digest.js';
import type { NodeCore } from '../src/domain/node-core.js';
import { checkChunk, importIntoUnit } from '../src/domain/replication.js';
import { UnitOfWork } from '../src/domain/writer.js';
import type { Change, Post } from '../src/model/content.js';
import { createStorage } from '../src/storage/index.js';
import type { Storage } from '../src/storage/storage.js';
import { openTestCore } from '../test/helpers/core.js';
import { digest, NODE_PASSWORD, nodeIdOf, OWNER_PASSWORD, ownerToken, registerClient, rest, serveNode } from '../test/helpers/network-process.js';
import type { ServingNode } from '../test/helpers/process.js';
import { cpuMs, loadAverage } from './_lib/proc-stats.js';

const { values } = parseArgs({
  options: {
    changes: { type: 'string', default: process.env.MYCEL_BENCH_CHANGES ?? '200000' },
    tx: { type: 'string', default: '5000' },
    chunk: { type: 'string', default: '100' },
    window: { type: 'string', default: '16' },
    'live-seconds': { type: 'string', default: '10' },
    rate: { type: 'string', default: '1000' },
    'cpu-prof': { type: 'string' },
    'net-chunk': { type: 'string' },
    'net-window': { type: 'string' },
    floor: { type: 'boolean', default: false },
  },
});
const LIVE_SECONDS = Number(values['live-seconds']);
const LIVE_RATE = Number(values.rate);
const CPU_PROF = values['cpu-prof'];
const CHANGES = Number(values.changes);
const PER_TX = Number(values.tx);
const CHUNK = Number(values.chunk);
const WINDOW = Number(values.window);
/** Over the network: the parent's network.changesChunkSize and the child's network.creditWindow (the config defaults unless given). */
const NET_ENV: Record<string, string> = {
  ...(values['net-chunk'] ? { MYCEL_CHANGES_CHUNK_SIZE: values['net-chunk'] } : {}),
  ...(values['net-window'] ? { MYCEL_NETWORK_CREDIT_WINDOW: values['net-window'] } : {}),
};

/** What every measurement gets: the parent (open), its log as a file and as parsed changes. */
export interface BenchContext {
  dir: string;
  parent: NodeCore;
  /** The parent's SQLite data directory (a `mycel serve` can be started on it once the parent is closed). */
  parentDataDir: string;
  logFile: string;
  changes: Change[];
}

/**
 * The parent's content: 20 channels, then a mix of operations, ~80 % post creations, the
 * rest edits, links, deletes and channel updates, `CHANGES` changes in all (as the Operator
 * writes them, 1,000 in flight).
 */
async function generate(parent: NodeCore): Promise<void> {
  const channels: string[] = [];
  for (let i = 0; i < 20; i++) channels.push((await parent.operator.createChannel(OWNER, { name: `bench:c${i}`, description: `channel ${i}` })).id);
  const posts: Post[] = [];
  let issued = channels.length;
  let seed = 1;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  await Promise.all(
    Array.from({ length: 1000 }, async () => {
      while (issued < CHANGES) {
        issued++;
        const r = rand(100);
        const target = posts.length > 0 ? posts[posts.length - 1 - rand(Math.min(posts.length, 500))]! : undefined;
        try {
          if (r < 80 || !target) {
            const ch = channels[rand(channels.length)]!;
            posts.push(await parent.operator.createPost(OWNER, { channelId: ch, body: `post ${issued}: the quick brown fox jumps over the lazy dog`, meta: { n: issued, tags: ['a', 'b'] } }));
          } else if (r < 90) {
            await parent.operator.editPost(OWNER, target.id, { body: `edited ${issued}` });
          } else if (r < 95) {
            const other = posts[rand(posts.length)]!;
            await parent.operator.createLink(OWNER, { fromPostId: target.id, toPostId: other.id, label: `l${issued}` });
          } else if (r < 98) {
            await parent.operator.deletePost(OWNER, target.id);
          } else {
            await parent.operator.updateChannel(OWNER, channels[rand(channels.length)]!, { description: `updated ${issued}` });
          }
        } catch {
          // An edit of a post deleted meanwhile: refused, writes nothing; the count is read from the log.
        }
      }
    }),
  );
}

/** Writes the parent's log as NDJSON, one change per line, reading it a page at a time. */
async function exportLog(parent: NodeCore, file: string): Promise<void> {
  const out = createWriteStream(file);
  for (let next = 1; ; ) {
    const page = await parent.storage.getChanges(next, 5000);
    if (page.length === 0) break;
    if (!out.write(page.map((c) => JSON.stringify(c)).join('\n') + '\n')) await once(out, 'drain');
    next = page[page.length - 1]!.serial + 1;
  }
  out.end();
  await once(out, 'finish');
}

async function readLog(file: string): Promise<Change[]> {
  const changes: Change[] = [];
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line) changes.push(JSON.parse(line) as Change);
  }
  return changes;
}

async function freshChild(dir: string, name: string): Promise<{ core: NodeCore; storage: Storage }> {
  const storage = createStorage({ url: 'sqlite', dataDir: join(dir, name) });
  const core = await openTestCore(storage, { name, ownerPassword: OWNER_PASSWORD });
  return { core, storage };
}

/**
 * A measured rate: changes per wall-clock second, and per CPU second of this process (user +
 * system), which says what the code costs when other work shares the machine's cores.
 */
interface Rate {
  perSecond: number;
  perCpuSecond: number;
}

function startClock(): () => { secs: number; cpuSecs: number } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return { secs: (performance.now() - t0) / 1000, cpuSecs: (c.user + c.system) / 1e6 };
  };
}

function rate(n: number, t: { secs: number; cpuSecs: number }): Rate {
  return { perSecond: n / t.secs, perCpuSecond: n / t.cpuSecs };
}

/** (a) The limit: the same checks, apply and append, PER_TX changes per transaction, no Writer. */
async function bareImport(ctx: BenchContext): Promise<Rate> {
  const { core, storage } = await freshChild(ctx.dir, 'bare');
  const stop = startClock();
  // Reading and parsing the file is part of it: a child over the network parses JSON too.
  const changes = await readLog(ctx.logFile);
  for (let i = 0; i < changes.length; i += PER_TX) {
    const slice = changes.slice(i, i + PER_TX);
    const chunk = checkChunk(slice, false);
    await storage.transaction(async (tx) => {
      const unit = new UnitOfWork(tx, core.node.id, Date.now());
      await unit.lock();
      await importIntoUnit(unit, ctx.parent.node.id, chunk);
    });
  }
  const t = stop();
  await same(ctx, core, 'bare import');
  await core.close();
  return rate(changes.length, t);
}

/**
 * What every catch-up costs in JavaScript before it writes anything, by the rule that each hop
 * checks the sender's chain: each chunk of CHUNK changes parsed from one JSON text (as a
 * `changes` message arrives) and checked (`checkChunk`: shape, the canonical JSON of each
 * payload, its SHA-256 and the link to the one before). Nothing is applied or written; the
 * texts are built before the clock starts.
 */
async function checksOnly(ctx: BenchContext): Promise<Rate> {
  const lines = readFileSync(ctx.logFile, 'utf8').split('\n').filter((line) => line !== '');
  const texts: string[] = [];
  for (let i = 0; i < lines.length; i += CHUNK) texts.push(`[${lines.slice(i, i + CHUNK).join(',')}]`);
  const stop = startClock();
  for (const text of texts) checkChunk(JSON.parse(text) as Change[], false);
  return rate(lines.length, stop());
}

/**
 * The SQLite floor of the bare import: the bare import again on a fresh child, recording every
 * statement it runs (SQL and parameters, through better-sqlite3's Statement methods), then
 * exactly those statements replayed in order on another fresh child with the storage's pragmas
 * (WAL, synchronous=FULL, foreign keys, its cache size) — no checks, no apply, no hashing, no
 * promises. What the import costs above this is JavaScript. Then the rows floor: only the
 * INSERTs of that record (and the transactions around them) on a third fresh child — the
 * rows any catch-up of this log writes, whatever its design (each change in this log, each
 * channel, post, link, idempotency key and stream event), with no read and no update. Returns
 * both rates and the statements per change of each.
 */
async function sqliteFloor(ctx: BenchContext): Promise<{ rate: Rate; inImport: { statementsUs: number; totalUs: number }; statementsPerChange: number; rows: Rate; rowsPerChange: number }> {
  type Method = 'run' | 'get' | 'all';
  const proto = Object.getPrototypeOf(new Database(':memory:').prepare('SELECT 1')) as Record<Method, (...args: unknown[]) => unknown> & { source?: string };
  const recorded: Array<[Method, string, unknown[]]> = [];
  /** Milliseconds spent inside the statements while recording (the import's own SQLite time). */
  let inStatements = 0;
  const originals = new Map<Method, (...args: unknown[]) => unknown>();
  for (const m of ['run', 'get', 'all'] as const) {
    const original = proto[m];
    originals.set(m, original);
    proto[m] = function (this: { source: string }, ...args: unknown[]) {
      recorded.push([m, this.source, args]);
      const t0 = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        inStatements += performance.now() - t0;
      }
    };
  }
  const { core, storage } = await freshChild(ctx.dir, 'floor-recorded');
  const changes = ctx.changes;
  recorded.length = 0;
  inStatements = 0;
  const stopRecorded = startClock();
  try {
    for (let i = 0; i < changes.length; i += PER_TX) {
      const chunk = checkChunk(changes.slice(i, i + PER_TX), false);
      await storage.transaction(async (tx) => {
        const unit = new UnitOfWork(tx, core.node.id, Date.now());
        await unit.lock();
        await importIntoUnit(unit, ctx.parent.node.id, chunk);
      });
    }
  } finally {
    for (const [m, original] of originals) proto[m] = original;
  }
  const recordedSecs = stopRecorded().secs;
  await core.close();
  const all = await replayStatements(ctx, 'floor-replayed', recorded);
  const inserts = recorded.filter(([, sql]) => /^\s*(INSERT|BEGIN|COMMIT)\b/i.test(sql));
  const rows = await replayStatements(ctx, 'floor-rows', inserts);
  const perChange = (n: number): number => n / changes.length;
  return {
    rate: all,
    inImport: { statementsUs: (inStatements * 1000) / changes.length, totalUs: (recordedSecs * 1e6) / changes.length },
    statementsPerChange: perChange(recorded.length),
    rows,
    // BEGIN and COMMIT are not rows.
    rowsPerChange: perChange(inserts.filter(([, sql]) => /^\s*INSERT\b/i.test(sql)).length),
  };
}

/** Runs recorded statements in order on a fresh child's database with the storage's pragmas; the rate per change of the log. */
async function replayStatements(ctx: BenchContext, name: string, recorded: ReadonlyArray<readonly ['run' | 'get' | 'all', string, unknown[]]>): Promise<Rate> {
  const replayed = await freshChild(ctx.dir, name);
  await replayed.core.close();
  const db = new Database(join(ctx.dir, name, 'mycel.db'));
  try {
    for (const p of ['journal_mode = WAL', 'synchronous = FULL', 'foreign_keys = ON', 'cache_size = -32768']) db.pragma(p);
    const statements = new Map<string, Database.Statement>();
    const plan = recorded.map(([m, sql, args]) => {
      let s = statements.get(sql);
      if (s === undefined) statements.set(sql, (s = db.prepare(sql)));
      return [m, s, args] as const;
    });
    const stop = startClock();
    for (const [m, s, args] of plan) (s[m] as (...a: unknown[]) => unknown)(...args);
    return rate(ctx.changes.length, stop());
  } finally {
    db.close();
  }
}

/** (b) importChunk through the Writer: CHUNK changes per chunk, WINDOW chunks in flight. */
async function chunkedImport(ctx: BenchContext): Promise<Rate> {
  const { core } = await freshChild(ctx.dir, 'chunked');
  const chunks: Change[][] = [];
  for (let i = 0; i < ctx.changes.length; i += CHUNK) chunks.push(ctx.changes.slice(i, i + CHUNK));
  let next = 0;
  const stop = startClock();
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (next < chunks.length) await core.replication.importChunk(ctx.parent.node.id, chunks[next++]!);
    }),
  );
  const t = stop();
  await same(ctx, core, 'importChunk');
  await core.close();
  return rate(ctx.changes.length, t);
}

/** The two `mycel serve` processes of (c) and (d), connected once (c) has run. */
interface Pair {
  parent: ServingNode;
  child: ServingNode;
  /** The parent's head serial before (d): the child's feed is read from there. */
  head: number;
}

/** CPU milliseconds of both processes. */
function pairCpuMs(pair: { parent: ServingNode; child: ServingNode }): number {
  return cpuMs(pair.parent.child.pid!) + cpuMs(pair.child.child.pid!);
}

/**
 * (c) Catch-up over the network. The in-process parent is closed and a `mycel serve` started
 * on its data directory; a fresh child node is registered there (role child) and served with
 * no server entry; the clock starts when the child is told to connect (POST
 * /api/v1/network/servers) and stops when its status shows the cursor at the parent's head
 * (polled every 50 ms, so up to 50 ms late). perCpuSecond counts the CPU time of both
 * processes (from /proc), which includes the status polls and the parent's sending.
 */
async function overTheNetwork(ctx: BenchContext): Promise<{ rate: Rate; pair: Pair }> {
  const head = ctx.changes[ctx.changes.length - 1]!.serial;
  const expected = (await contentDigest(ctx.parent.storage)).digest;
  await ctx.parent.close();
  const parentDb = { dataDir: ctx.parentDataDir };
  const childDb = { dataDir: join(ctx.dir, 'net-child') };
  const childId = await nodeIdOf(childDb, 'net-child');
  await registerClient(parentDb, 'parent', childId, 'child');
  const nodeArgs = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : [];
  const parent = await serveNode(ctx.dir, parentDb, 'parent', [], NET_ENV, undefined, nodeArgs);
  if (CPU_PROF) console.log(`cpu profiles in ${CPU_PROF}: parent pid ${parent.child.pid}`);
  const child = await serveNode(ctx.dir, childDb, 'net-child', [], NET_ENV, undefined, nodeArgs).catch(async (err: unknown) => {
    await parent.stop();
    throw err;
  });
  const pair: Pair = { parent, child, head };
  try {
    await ownerToken(child.url); // log in before the clock starts
    const cpu0 = pairCpuMs(pair);
    const t0 = performance.now();
    const added = await rest(child.url, 'POST', '/api/v1/network/servers', { url: parent.url, password: NODE_PASSWORD, role: 'child', transport: 'websocket' });
    if (added.status !== 201) throw new Error(`connecting the child: ${added.status} ${JSON.stringify(added.body)}`);
    const deadline = Date.now() + Math.max(120_000, ctx.changes.length * 5); // ≥ 200 changes/s, or it is broken
    for (;;) {
      const { body } = await rest<{ servers: Array<{ cursor: number | null; state: string; lastError: unknown }> }>(child.url, 'GET', '/api/v1/network/status');
      const link = body.servers[0];
      if (link && (link.cursor ?? 0) >= head) break;
      if (link?.state === 'stopped' || Date.now() > deadline) throw new Error(`the child did not catch up: ${JSON.stringify(link)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const secs = (performance.now() - t0) / 1000;
    const cpuSecs = (pairCpuMs(pair) - cpu0) / 1000;
    const [p, c] = await Promise.all([digest(parent.url), digest(child.url)]);
    if (p.digest !== expected || c.digest !== expected) throw new Error('over the network: the child’s digest differs from the parent’s');
    return { rate: { perSecond: ctx.changes.length / secs, perCpuSecond: ctx.changes.length / cpuSecs }, pair };
  } catch (err) {
    await child.stop();
    await parent.stop();
    throw err;
  }
}

/**
 * Reads the child's change feed in a worker thread (its own event loop, so the load generator
 * in the main thread does not delay the arrival times): for every post.created change it posts
 * [createdAt on the parent, Date.now() when its bytes arrived].
 */
const FEED_READER = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const res = await fetch(workerData.url + '/api/v1/changes/stream?after=' + workerData.after, { headers: { authorization: 'Bearer ' + workerData.token } });
  if (res.status !== 200) throw new Error('change feed: ' + res.status);
  parentPort.postMessage({ t: 'open' });
  const decoder = new TextDecoder();
  let buf = '';
  let batch = [];
  const flush = setInterval(() => { if (batch.length) { parentPort.postMessage({ t: 'samples', samples: batch }); batch = []; } }, 100);
  parentPort.on('message', () => { clearInterval(flush); if (batch.length) parentPort.postMessage({ t: 'samples', samples: batch }); process.exit(0); });
  for await (const chunk of res.body) {
    const now = Date.now();
    buf += decoder.decode(chunk, { stream: true });
    const lines = buf.split('\\n');
    buf = lines.pop();
    for (const line of lines) {
      if (!line.startsWith('data: ')) continue;
      const change = JSON.parse(line.slice(6));
      if (change.type === 'post.created') batch.push([change.createdAt, now]);
    }
  }
})().catch((err) => { parentPort.postMessage({ t: 'error', message: String(err) }); });
`;

interface LiveResult {
  written: number;
  secs: number;
  /** Parent createdAt → arrival on the child's feed, ms, sorted. */
  latencies: number[];
  /** REST round trip of the writes, ms, sorted. */
  writeMs: number[];
  cpuUsPerChange: number;
}

/**
 * (d) Live propagation: LIVE_RATE posts/s for LIVE_SECONDS over REST to the parent (a timer
 * every 10 ms issues what the schedule owes, 32 connections), while a worker follows the
 * child's change feed; then waits for the last post to arrive and checks the digests.
 */
async function live(pair: Pair): Promise<LiveResult> {
  const token = await ownerToken(pair.parent.url);
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const pool = new Pool(pair.parent.url, { connections: 32, pipelining: 1 });
  const ch = await pool.request({ method: 'POST', path: '/api/v1/channels', headers: auth, body: JSON.stringify({ name: 'bench:live' }) });
  const { id: channelId } = (await ch.body.json()) as { id: string };
  const worker = new Worker(FEED_READER, { eval: true, workerData: { url: pair.child.url, token: await ownerToken(pair.child.url), after: pair.head } });
  const latencies: number[] = [];
  let feedError: string | undefined;
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { t: string; samples?: Array<[number, number]>; message?: string }) => {
      if (m.t === 'open') resolve();
      else if (m.t === 'samples') for (const [created, arrived] of m.samples!) latencies.push(arrived - created);
      else if (m.t === 'error') reject(new Error((feedError = m.message)));
    });
    worker.on('error', (err) => {
      feedError = String(err);
      reject(err);
    });
  });
  const writeMs: number[] = [];
  let issued = 0;
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const total = Math.round(LIVE_SECONDS * LIVE_RATE);
  const cpu0 = pairCpuMs(pair);
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const owed = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * LIVE_RATE));
      while (issued < owed) {
        const i = issued++;
        const sent = performance.now();
        const p = pool
          .request({ method: 'POST', path: `/api/v1/channels/${channelId}/posts`, headers: auth, body: JSON.stringify({ body: `live ${i}: the quick brown fox jumps over the lazy dog` }) })
          .then(async (res) => {
            await res.body.dump();
            if (res.statusCode !== 201) failed++;
            writeMs.push(performance.now() - sent);
          })
          .catch(() => void failed++)
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      if (issued >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 10);
  });
  await Promise.all(inFlight);
  const secs = (performance.now() - t0) / 1000;
  await pool.close();
  if (failed > 0) throw new Error(`live: ${failed} writes failed`);
  const deadline = Date.now() + 60_000;
  while (latencies.length < total && feedError === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const cpuUsPerChange = ((pairCpuMs(pair) - cpu0) * 1000) / total;
  worker.postMessage('stop');
  await once(worker, 'exit');
  if (latencies.length !== total) throw new Error(`live: ${latencies.length} of ${total} posts arrived on the child${feedError ? ` (${feedError})` : ''}`);
  const [p, c] = await Promise.all([digest(pair.parent.url), digest(pair.child.url)]);
  if (p.digest !== c.digest) throw new Error('live: the child’s digest differs from the parent’s');
  const asc = (a: number, b: number): number => a - b;
  return { written: total, secs, latencies: latencies.sort(asc), writeMs: writeMs.sort(asc), cpuUsPerChange };
}

function pct(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

async function same(ctx: BenchContext, child: NodeCore, what: string): Promise<void> {
  const [p, c] = [await contentDigest(ctx.parent.storage), await contentDigest(child.storage)];
  if (p.digest !== c.digest) throw new Error(`${what}: the child's digest differs from the parent's`);
}

const dir = mkdtempSync(join(tmpdir(), 'mycel-bench-replication-'));
try {
  const parentDataDir = join(dir, 'parent');
  const parent = await openTestCore(createStorage({ url: 'sqlite', dataDir: parentDataDir }), { name: 'parent', ownerPassword: OWNER_PASSWORD });
  const stopGen = startClock();
  await generate(parent);
  const gen = stopGen();
  const logFile = join(dir, 'parent-log.ndjson');
  await exportLog(parent, logFile);
  const changes = await readLog(logFile);
  const ctx: BenchContext = { dir, parent, parentDataDir, logFile, changes };
  const fmt = (n: number): string => n.toFixed(0).padStart(10);
  console.log(`replication import on SQLite (WAL, synchronous=FULL), node ${process.version}`);
  console.log(
    `parent: ${changes.length} changes written in ${gen.secs.toFixed(1)} s (${(changes.length / gen.secs).toFixed(0)}/s, ${(changes.length / gen.cpuSecs).toFixed(0)} per CPU-s through the Operator); log file ${(statSync(logFile).size / 1e6).toFixed(1)} MB`,
  );
  const bare = await bareImport(ctx);
  const floor = values.floor ? await sqliteFloor(ctx) : undefined;
  const checks = values.floor ? await checksOnly(ctx) : undefined;
  const chunked = await chunkedImport(ctx);
  const loadAtNetwork = loadAverage();
  const { rate: network, pair } = await overTheNetwork(ctx); // closes ctx.parent
  let liveResult: LiveResult | undefined;
  let loadAtLive = '';
  try {
    if (LIVE_SECONDS > 0) {
      loadAtLive = loadAverage();
      liveResult = await live(pair);
    }
  } finally {
    await pair.child.stop();
    await pair.parent.stop();
  }
  const row = (name: string, r: Rate): string =>
    name.padEnd(34) + `${fmt(r.perSecond)}  ${(r.perSecond / bare.perSecond).toFixed(2)}  ${fmt(r.perCpuSecond)}  ${(r.perCpuSecond / bare.perCpuSecond).toFixed(2)}`;
  console.log(`${'name'.padEnd(34)}${'changes/s'.padStart(10)}  ratio  ${'per CPU-s'.padStart(10)}  ratio (to bare import)`);
  console.log(row(`bare import (file, tx of ${PER_TX})`, bare));
  if (floor) {
    console.log(row(`SQLite floor (${floor.statementsPerChange.toFixed(2)} stmts/change)`, floor.rate));
    console.log(row(`  its INSERTs only (${floor.rowsPerChange.toFixed(2)} rows/change)`, floor.rows));
  }
  console.log(row(`importChunk (${CHUNK} x ${WINDOW} in flight)`, chunked));
  console.log(row('over the network (2 processes)', network));
  console.log(`digests of the three children equal the parent’s; over the network: per CPU-s of parent + child; load ${loadAtNetwork}`);
  if (floor && checks) {
    const us = (r: Rate): number => 1e6 / r.perSecond;
    const { statementsUs, totalUs } = floor.inImport;
    console.log(
      `floor: the recorded import took ${totalUs.toFixed(1)} µs a change, ${statementsUs.toFixed(1)} µs of it inside its statements; ` +
        `replayed alone they take ${us(floor.rate).toFixed(1)} µs, the INSERTs alone ${us(floor.rows).toFixed(1)} µs`,
    );
    const bound = us(floor.rows) + us(checks);
    console.log(
      `floor: parsing and checking each change (no apply, no write) takes ${us(checks).toFixed(1)} µs; with the INSERTs alone that is ` +
        `${bound.toFixed(1)} µs a change on one thread: at most ${(1e6 / bound).toFixed(0)} changes/s for any import that checks and writes these rows`,
    );
  }
  console.log(`goal: catch-up ≥ 50,000 changes/s and ≥ 0.70 of bare import: ${network.perSecond >= 50_000 && network.perSecond / bare.perSecond >= 0.7 ? 'met' : 'NOT met'} (${network.perSecond.toFixed(0)}/s, ${(network.perSecond / bare.perSecond).toFixed(2)})`);
  if (liveResult) {
    const l = liveResult;
    const ms = (v: number): string => v.toFixed(1);
    console.log(`live: ${l.written} posts over REST to the parent in ${l.secs.toFixed(1)} s (${(l.written / l.secs).toFixed(0)}/s, target ${LIVE_RATE}/s), all arrived on the child; load ${loadAtLive}`);
    console.log(`  parent createdAt → child change feed: p50 ${ms(pct(l.latencies, 0.5))} ms, p99 ${ms(pct(l.latencies, 0.99))} ms, max ${ms(l.latencies[l.latencies.length - 1]!)} ms`);
    const edges = [10, 25, 50, 100, 150, 200];
    const buckets = edges.map((e, i) => `${i === 0 ? '' : edges[i - 1]}<${e}: ${l.latencies.filter((v) => v < e && (i === 0 || v >= edges[i - 1]!)).length}`);
    console.log(`  by ms: ${buckets.join(', ')}, ≥${edges[edges.length - 1]}: ${l.latencies.filter((v) => v >= edges[edges.length - 1]!).length}`);
    console.log(`  REST write round trip on the parent: p50 ${ms(pct(l.writeMs, 0.5))} ms, p99 ${ms(pct(l.writeMs, 0.99))} ms`);
    console.log(`  CPU of parent + child: ${l.cpuUsPerChange.toFixed(0)} µs per post (write, send, import, feed)`);
    console.log(`  seed system: 30 changes, then a 100 ms sleep ≈ 300 changes/s, up to ~100 ms before a change leaves; goal p99 < 50 ms: ${pct(l.latencies, 0.99) < 50 ? 'met' : 'NOT met'}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
