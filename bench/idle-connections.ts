// Idle connections: server memory per idle authenticated WebSocket connection with one
// subscription, at 10,000 connections, Mycel side by side with Socket.IO 4.8 and a bare `ws`
// server. Each server is one child process (run with --expose-gc); the connections come from
// client child processes. Per server: baseline after a warm-up (connect + close a few hundred)
// and a full GC, then open N connections, let the server settle, GC again and sample; the
// minimum of a few samples minus the baseline, divided by N, is the cost of a connection.
//
// Usage: npm run bench -- idle-connections [--quick] [--json FILE] [--connections N]
//          [--channels N] [--procs N] [--servers ws,socketio,mycel-defaults,mycel]
//          [--mycel-client centrifuge|raw] [--heap-snapshots DIR]
// --heap-snapshots writes a V8 heap snapshot of each server at its baseline and with all
// connections open (DIR/<server>-{base,loaded}.heapsnapshot); compare them with
// bench/_lib/heapsnapshot-diff.ts. Snapshots take long and perturb nothing measured before them.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ROOT, installCleanup, startNodeChild, stopChild } from './_lib/children.js';
import type { ServerMemory } from './_lib/control.js';
import type { IdleSetup } from './_lib/idle-worker.js';
import { request } from './_lib/ipc.js';
import { loadAverage } from './_lib/proc-stats.js';
import { ratioTable, table, writeJson, type Ratio } from './_lib/report.js';
import type { MycelClientKind } from './_lib/rt-clients.js';
import { MYCEL_BARE, MYCEL_DEFAULTS, startServer, type ServerSpec } from './_lib/servers.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    connections: { type: 'string' },
    channels: { type: 'string' },
    procs: { type: 'string', default: '2' },
    servers: { type: 'string', default: 'ws,socketio,mycel-defaults,mycel' },
    'mycel-client': { type: 'string', default: 'centrifuge' },
    'heap-snapshots': { type: 'string' },
  },
});

const QUICK = values.quick;
const N = Number(values.connections ?? (QUICK ? 1000 : 10_000));
const CHANNELS = Number(values.channels ?? Math.max(1, Math.round(N / 10)));
const PROCS = Math.max(1, Number(values.procs));
const WARM = Math.min(500, Math.ceil(N / 20));
const MYCEL_CLIENT = values['mycel-client'] as MycelClientKind;
if (MYCEL_CLIENT !== 'centrifuge' && MYCEL_CLIENT !== 'raw') throw new Error('--mycel-client is centrifuge or raw');
const API_KEY = randomBytes(24).toString('hex');
const GOAL_BYTES = 10 * 1024;
const SNAPSHOT_DIR = values['heap-snapshots'] ? resolve(values['heap-snapshots']) : undefined;

const SERVER_SPECS: Record<string, ServerSpec> = {
  ws: { kind: 'ws', label: 'ws (bare)' },
  socketio: { kind: 'socketio', label: 'socket.io 4.8' },
  'mycel-defaults': { kind: 'mycel', label: 'mycel (defaults: presence+history)', mycelChannel: MYCEL_DEFAULTS },
  mycel: { kind: 'mycel', label: 'mycel (no history/presence)', mycelChannel: MYCEL_BARE },
};
const SERVERS = values.servers.split(',').map((name) => {
  const spec = SERVER_SPECS[name];
  if (!spec) throw new Error(`unknown server '${name}' (${Object.keys(SERVER_SPECS).join(', ')})`);
  return { name, spec };
});

interface Row {
  server: string;
  serverName: string;
  connections: number;
  connectSeconds: number;
  baseRssMb: number;
  baseHeapMb: number;
  rssMb: number;
  heapMb: number;
  rssBytesPerConn: number;
  heapBytesPerConn: number;
  externalBytesPerConn: number;
}

/** A few samples after a full GC each, a short pause apart; the minimum of each field. */
async function settledMemory(mem: (gc: boolean) => Promise<ServerMemory>, samples = 3): Promise<ServerMemory> {
  let best: ServerMemory | undefined;
  for (let i = 0; i < samples; i++) {
    if (i > 0) await sleep(500);
    const m = await mem(true);
    best = best
      ? { rss: Math.min(best.rss, m.rss), heapUsed: Math.min(best.heapUsed, m.heapUsed), heapTotal: Math.min(best.heapTotal, m.heapTotal), external: Math.min(best.external, m.external), arrayBuffers: Math.min(best.arrayBuffers, m.arrayBuffers) }
      : m;
  }
  return best!;
}

async function runServer(name: string, spec: ServerSpec): Promise<Row> {
  const server = await startServer(spec, { apiKey: API_KEY });
  const workers = Array.from({ length: PROCS }, () => startNodeChild(join(ROOT, 'bench/_lib/idle-worker.ts'), [], { raiseFdLimit: true }));
  try {
    const target = { kind: spec.kind, url: server.url, mycelClient: MYCEL_CLIENT, timeoutMs: 30_000 };
    const conns = Array.from({ length: N }, (_, i) => ({ channel: `idle-${i % CHANNELS}`, user: `u${i}` }));
    const share = (i: number, list: typeof conns): typeof conns => list.filter((_, j) => j % PROCS === i);
    const setup = (i: number, list: typeof conns): IdleSetup => ({ target, apiKey: API_KEY, conns: share(i, list), concurrency: 50 });

    const warm = conns.slice(0, WARM).map((c) => ({ ...c, user: `warm-${c.user}` }));
    await Promise.all(workers.map((w, i) => request(w, 'warm', setup(i, warm), 120_000)));
    // Closes reach the server asynchronously; give it a moment before the baseline.
    await sleep(1000);
    const base = await settledMemory(server.memory);
    if (SNAPSHOT_DIR) await server.heapSnapshot(join(SNAPSHOT_DIR, `${name}-base.heapsnapshot`));

    const t0 = performance.now();
    await Promise.all(workers.map((w, i) => request(w, 'open', setup(i, conns), 300_000)));
    const connectSeconds = (performance.now() - t0) / 1000;
    await sleep(2000);
    const after = await settledMemory(server.memory);
    const status = await Promise.all(workers.map((w) => request<{ open: number; drops: number }>(w, 'status')));
    const open = status.reduce((a, s) => a + s.open, 0);
    const drops = status.reduce((a, s) => a + s.drops, 0);
    if (open !== N || drops !== 0) throw new Error(`${spec.label}: ${open} of ${N} connections open, ${drops} dropped`);
    if (SNAPSHOT_DIR) await server.heapSnapshot(join(SNAPSHOT_DIR, `${name}-loaded.heapsnapshot`));
    const row: Row = {
      server: spec.label,
      serverName: name,
      connections: N,
      connectSeconds,
      baseRssMb: base.rss / 2 ** 20,
      baseHeapMb: base.heapUsed / 2 ** 20,
      rssMb: after.rss / 2 ** 20,
      heapMb: after.heapUsed / 2 ** 20,
      rssBytesPerConn: (after.rss - base.rss) / N,
      heapBytesPerConn: (after.heapUsed - base.heapUsed) / N,
      externalBytesPerConn: (after.external - base.external) / N,
    };
    console.log(
      `  ${spec.label}: ${N} connections in ${connectSeconds.toFixed(1)} s; RSS ${row.baseRssMb.toFixed(1)} → ${row.rssMb.toFixed(1)} MB, ` +
        `heap ${row.baseHeapMb.toFixed(1)} → ${row.heapMb.toFixed(1)} MB`,
    );
    await Promise.all(workers.map((w) => request(w, 'close').catch(() => undefined)));
    return row;
  } finally {
    await Promise.all(workers.map((w) => stopChild(w)));
    await server.stop();
  }
}

installCleanup();
if (SNAPSHOT_DIR) mkdirSync(SNAPSHOT_DIR, { recursive: true });
console.log(
  `idle-connections: node ${process.version}, ${availableParallelism()} cores, load ${loadAverage()}, ${N} connections over ${CHANNELS} channels ` +
    `(one subscription each), ${PROCS} client processes, Mycel clients: ${MYCEL_CLIENT}${QUICK ? ', QUICK' : ''}`,
);
const rows: Row[] = [];
for (const { name, spec } of SERVERS) rows.push(await runServer(name, spec));

console.log(`\nserver memory per idle connection (${N} connections, after GC, minus the baseline)`);
console.log(
  table(
    ['server', 'RSS B/conn', 'heap B/conn', 'external B/conn', 'RSS MB (base)', 'heap MB (base)', 'connect s'],
    rows.map((r) => [r.server, r.rssBytesPerConn, r.heapBytesPerConn, r.externalBytesPerConn, `${r.rssMb.toFixed(1)} (${r.baseRssMb.toFixed(1)})`, `${r.heapMb.toFixed(1)} (${r.baseHeapMb.toFixed(1)})`, r.connectSeconds]),
  ),
);
const ratios: Ratio[] = [];
for (const m of rows.filter((r) => r.serverName.startsWith('mycel'))) {
  const tag = m.serverName === 'mycel' ? 'mycel bare' : 'mycel defaults';
  ratios.push({ name: `${tag} RSS B/conn vs goal 10 KB`, mycel: m.rssBytesPerConn, peer: GOAL_BYTES, goal: { max: 1, text: '≤ 1.00' } });
  for (const peer of rows.filter((r) => !r.serverName.startsWith('mycel'))) {
    ratios.push({ name: `${tag} RSS B/conn vs ${peer.serverName}`, mycel: m.rssBytesPerConn, peer: peer.rssBytesPerConn });
    ratios.push({ name: `${tag} heap B/conn vs ${peer.serverName}`, mycel: m.heapBytesPerConn, peer: peer.heapBytesPerConn });
  }
}
if (ratios.length > 0) console.log(`\nratios (mycel / peer; lower is better)\n${ratioTable(ratios)}`);
console.log(
  '\nRSS B/conn counts pages the connections made resident; a server whose baseline has more free heap ' +
    'pages (Mycel: fastify, SQLite, config at start) absorbs part of the growth there, so heap B/conn is the exact comparison.',
);
if (SNAPSHOT_DIR) console.log(`WARNING: heap snapshots were written (${SNAPSHOT_DIR}); writing them grows RSS, so the RSS columns of this run are not valid.`);
writeJson(values.json, { node: process.version, cores: availableParallelism(), quick: QUICK, connections: N, channels: CHANNELS, mycelClient: MYCEL_CLIENT, rows, ratios });
