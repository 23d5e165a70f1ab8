// Fan-out: Mycel against Socket.IO 4.8 (room broadcast) and a bare `ws` broadcast loop, side by
// side in one run. Each server is one child process; the subscribers and the publisher are
// other child processes driving real clients (bench/_lib/fanout-worker.ts). Scenarios:
//   (a) 1 channel × 2,000 subscribers, (b) 200 channels × 10 subscribers;
// each at a fixed publish rate and as fast as possible (a bounded window of publications that
// not every subscriber has received yet). Reports deliveries/s, publish→receive p50/p99,
// server and client CPU time per delivery (from /proc/<pid>/stat), RSS, and the ratios.
//
// Each measured phase runs --reps times in a row (same connections); every reported number is
// the median over the repetitions, so a burst of load from elsewhere on the machine moves it less.
//
// Usage: npm run bench -- fanout [--quick] [--json FILE] [--duration S] [--reps N] [--scenarios a,b]
//          [--servers ws,socketio,mycel,mycel-defaults] [--mycel-client centrifuge|raw]
//          [--sub-procs N] [--rate-a N] [--rate-b N] [--window-a N] [--window-b N]
//          [--cpu-prof DIR]   (V8 profile of each server during each measured phase: DIR/<server>-<scenario>-<mode>.cpuprofile;
//                              the profiler costs CPU, so numbers from a profiled run are not for reporting)
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ROOT, installCleanup, startNodeChild, stopChild } from './_lib/children.js';
import type { PublisherSetup, RunReport, RunSpec, SubscribersReport, SubscribersSetup } from './_lib/fanout-worker.js';
import { Histogram } from './_lib/histogram.js';
import { onEvent, request, sendEvent } from './_lib/ipc.js';
import { cpuMs, cpuTimes, loadAverage, rssBytes } from './_lib/proc-stats.js';
import { ratioTable, table, writeJson, type Ratio } from './_lib/report.js';
import type { MycelClientKind } from './_lib/rt-clients.js';
import { MYCEL_BARE, MYCEL_DEFAULTS, startServer, type RunningServer, type ServerSpec } from './_lib/servers.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'string' },
    duration: { type: 'string' },
    reps: { type: 'string' },
    scenarios: { type: 'string', default: 'a,b' },
    servers: { type: 'string', default: 'ws,socketio,mycel,mycel-defaults' },
    'mycel-client': { type: 'string', default: 'centrifuge' },
    'sub-procs': { type: 'string', default: '1' },
    'rate-a': { type: 'string' },
    'rate-b': { type: 'string' },
    'window-a': { type: 'string' },
    'window-b': { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
});

const QUICK = values.quick;
const DURATION_MS = Number(values.duration ?? (QUICK ? 2 : 5)) * 1000;
const REPS = Math.max(1, Number(values.reps ?? (QUICK ? 1 : 3)));
const WARMUP_MS = QUICK ? 1000 : 2000;
const DRAIN_MS = 10_000;
const SUB_PROCS = Math.max(1, Number(values['sub-procs']));
const MYCEL_CLIENT = values['mycel-client'] as MycelClientKind;
if (MYCEL_CLIENT !== 'centrifuge' && MYCEL_CLIENT !== 'raw') throw new Error('--mycel-client is centrifuge or raw');
const API_KEY = randomBytes(24).toString('hex');
const PAYLOAD_BYTES = 100;
const PROFILE_DIR = values['cpu-prof'] ? resolve(values['cpu-prof']) : undefined;

interface Scenario {
  id: 'a' | 'b';
  title: string;
  channels: number;
  subsPerChannel: number;
  rate: number;
  window: number;
}

const SCENARIOS: Scenario[] = [
  {
    id: 'a',
    title: '1 channel',
    channels: 1,
    subsPerChannel: QUICK ? 200 : 2000,
    rate: Number(values['rate-a'] ?? 10),
    window: Number(values['window-a'] ?? 4),
  },
  {
    id: 'b',
    title: 'many channels',
    channels: QUICK ? 20 : 200,
    subsPerChannel: 10,
    rate: Number(values['rate-b'] ?? 500),
    window: Number(values['window-b'] ?? (QUICK ? 20 : 200)),
  },
].filter((s): s is Scenario => values.scenarios.split(',').includes(s.id));

const SERVER_SPECS: Record<string, ServerSpec> = {
  ws: { kind: 'ws', label: 'ws (bare loop)' },
  socketio: { kind: 'socketio', label: 'socket.io 4.8' },
  mycel: { kind: 'mycel', label: 'mycel (no history/presence)', mycelChannel: MYCEL_BARE },
  'mycel-defaults': { kind: 'mycel', label: 'mycel (defaults: history+presence)', mycelChannel: MYCEL_DEFAULTS },
};
const SERVERS = values.servers.split(',').map((name) => {
  const spec = SERVER_SPECS[name];
  if (!spec) throw new Error(`unknown server '${name}' (${Object.keys(SERVER_SPECS).join(', ')})`);
  return { name, spec };
});

/** The payload padding that makes `{"t":…,"s":…,"p":"…"}` about PAYLOAD_BYTES long. */
const PAD = 'x'.repeat(PAYLOAD_BYTES - JSON.stringify({ t: performance.timeOrigin + performance.now(), s: 100000, p: '' }).length);

interface Row {
  scenario: string;
  mode: 'rate' | 'max';
  server: string;
  serverName: string;
  subscribers: number;
  channels: number;
  targetRate: number | null;
  window: number | null;
  published: number;
  expected: number;
  received: number;
  lost: number;
  seconds: number;
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  serverCpuMs: number;
  /** Part of the server's CPU time spent in the kernel (syscalls; on loopback, also the receiving side of TCP). */
  serverSysShare: number;
  serverUsPerDelivery: number;
  clientCpuMs: number;
  clientUsPerDelivery: number;
  serverRssMb: number;
  clientRssMb: number;
  publishErrors: number;
  drops: number;
  /** Server CPU, % of one core, with the clients connected and idle (measured once per server and scenario). */
  serverIdleCpuPct?: number;
  /** Per repetition: server µs/delivery and p99 ms (the row holds their medians). */
  reps?: Array<{ serverUsPerDelivery: number; p99Ms: number; deliveriesPerSec: number }>;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One row from several repetitions: medians of the measurements, sums of the counts. */
function aggregate(reps: Row[]): Row {
  const first = reps[0]!;
  const med = (k: keyof Row): number => median(reps.map((r) => r[k] as number));
  const sum = (k: keyof Row): number => reps.reduce((a, r) => a + (r[k] as number), 0);
  return {
    ...first,
    published: sum('published'),
    expected: sum('expected'),
    received: sum('received'),
    lost: sum('lost'),
    publishErrors: sum('publishErrors'),
    drops: Math.max(...reps.map((r) => r.drops)),
    seconds: sum('seconds'),
    deliveriesPerSec: med('deliveriesPerSec'),
    p50Ms: med('p50Ms'),
    p99Ms: med('p99Ms'),
    maxMs: Math.max(...reps.map((r) => r.maxMs)),
    serverCpuMs: sum('serverCpuMs'),
    serverSysShare: med('serverSysShare'),
    serverUsPerDelivery: med('serverUsPerDelivery'),
    clientCpuMs: sum('clientCpuMs'),
    clientUsPerDelivery: med('clientUsPerDelivery'),
    serverRssMb: Math.max(...reps.map((r) => r.serverRssMb)),
    clientRssMb: Math.max(...reps.map((r) => r.clientRssMb)),
    reps: reps.map((r) => ({ serverUsPerDelivery: r.serverUsPerDelivery, p99Ms: r.p99Ms, deliveriesPerSec: r.deliveriesPerSec })),
  };
}

async function runServer(scenario: Scenario, name: string, spec: ServerSpec): Promise<Row[]> {
  const server: RunningServer = await startServer(spec, { apiKey: API_KEY });
  const workers = Array.from({ length: SUB_PROCS }, () => startNodeChild(join(ROOT, 'bench/_lib/fanout-worker.ts'), [], { raiseFdLimit: true }));
  const pubWorker = startNodeChild(join(ROOT, 'bench/_lib/fanout-worker.ts'), []);
  try {
    const target = { kind: spec.kind, url: server.url, mycelClient: MYCEL_CLIENT, timeoutMs: 15_000 };
    const channels = Array.from({ length: scenario.channels }, (_, i) => `fanout-${scenario.id}-${i}`);
    const subs = channels.flatMap((channel, ci) => Array.from({ length: scenario.subsPerChannel }, (_, j) => ({ channel, user: `u${ci}-${j}` })));
    // Subscriber i goes to process floor(i·K/N): channel-major order keeps small channels in one process.
    const shares: Array<typeof subs> = workers.map(() => []);
    subs.forEach((s, i) => shares[Math.floor((i * SUB_PROCS) / subs.length)]!.push(s));
    const processesPerChannel = channels.map((ch) => shares.filter((share) => share.some((s) => s.channel === ch)).length);

    for (const w of workers) onEvent(w, 'done', (seqs) => sendEvent(pubWorker, 'done', seqs));
    const t0 = performance.now();
    await Promise.all([
      ...workers.map((w, i) =>
        request(w, 'setupSubscribers', { target, apiKey: API_KEY, subs: shares[i]!, connectConcurrency: 100 } satisfies SubscribersSetup, 120_000),
      ),
      request(pubWorker, 'setupPublisher', { target, apiKey: API_KEY } satisfies PublisherSetup),
    ]);
    console.log(`  ${spec.label}: ${subs.length} subscribers connected in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const base = { channels, processesPerChannel, pad: PAD, drainMs: DRAIN_MS };
    const phase = async (mode: 'rate' | 'max', durationMs: number, profile = false): Promise<Row> => {
      await Promise.all(workers.map((w) => request(w, 'reset')));
      if (profile && PROFILE_DIR) await server.profileStart();
      const pids = workers.map((w) => w.pid!).concat(pubWorker.pid!);
      const s0 = cpuTimes(server.pid);
      const c0 = pids.reduce((a, p) => a + cpuMs(p), 0);
      const spec2: RunSpec = { ...base, mode, rate: scenario.rate, window: scenario.window, durationMs };
      const run = await request<RunReport>(pubWorker, 'run', spec2, durationMs + DRAIN_MS + 30_000);
      const s1 = cpuTimes(server.pid);
      const c1 = pids.reduce((a, p) => a + cpuMs(p), 0);
      if (profile && PROFILE_DIR) await server.profileStop(join(PROFILE_DIR, `${name}-${scenario.id}-${mode}.cpuprofile`));
      const reports = await Promise.all(workers.map((w) => request<SubscribersReport>(w, 'report')));
      const hist = new Histogram();
      for (const r of reports) hist.merge(Histogram.from(r.hist));
      const received = reports.reduce((a, r) => a + r.received, 0);
      const expected = run.perChannel.reduce((a, n) => a + n * scenario.subsPerChannel, 0);
      const lastReceive = Math.max(...reports.map((r) => r.lastReceiveAt));
      const seconds = (lastReceive - run.startedAt) / 1000;
      return {
        scenario: scenario.id,
        mode,
        server: spec.label,
        serverName: name,
        subscribers: subs.length,
        channels: channels.length,
        targetRate: mode === 'rate' ? scenario.rate : null,
        window: mode === 'max' ? scenario.window : null,
        published: run.published,
        expected,
        received,
        lost: expected - received,
        seconds,
        deliveriesPerSec: received / seconds,
        p50Ms: hist.quantile(0.5),
        p99Ms: hist.quantile(0.99),
        maxMs: hist.max,
        serverCpuMs: s1.user + s1.sys - s0.user - s0.sys,
        serverSysShare: (s1.sys - s0.sys) / (s1.user + s1.sys - s0.user - s0.sys),
        serverUsPerDelivery: ((s1.user + s1.sys - s0.user - s0.sys) * 1000) / received,
        clientCpuMs: c1 - c0,
        clientUsPerDelivery: ((c1 - c0) * 1000) / received,
        serverRssMb: rssBytes(server.pid) / 2 ** 20,
        clientRssMb: pids.reduce((a, p) => a + rssBytes(p), 0) / 2 ** 20,
        publishErrors: run.publishErrors,
        drops: reports.reduce((a, r) => a + r.drops, 0) + run.drops,
      };
    };

    // Server CPU with every client connected and nobody publishing (timers, pings): a cost
    // each delivery of the rate phases carries a share of.
    const idleMs = QUICK ? 1000 : 3000;
    const i0 = cpuMs(server.pid);
    await sleep(idleMs);
    const idleCpuPct = ((cpuMs(server.pid) - i0) / idleMs) * 100;
    console.log(`    idle: server CPU ${idleCpuPct.toFixed(1)}% of a core with ${subs.length} idle subscribers`);
    await phase('max', WARMUP_MS); // warm-up: JIT and buffers; not reported
    const rows: Row[] = [];
    for (const mode of ['rate', 'max'] as const) {
      const reps: Row[] = [];
      for (let i = 0; i < REPS; i++) {
        const r = await phase(mode, DURATION_MS, i === 0);
        reps.push(r);
        console.log(
          `    ${mode.padEnd(4)} #${i + 1}: ${Math.round(r.deliveriesPerSec)} deliveries/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ` +
            `server ${r.serverUsPerDelivery.toFixed(2)} µs/delivery, client ${r.clientUsPerDelivery.toFixed(2)} µs/delivery, lost ${r.lost}`,
        );
      }
      rows.push({ ...aggregate(reps), serverIdleCpuPct: idleCpuPct });
    }
    await Promise.all([...workers, pubWorker].map((w) => request(w, 'close').catch(() => undefined)));
    return rows;
  } finally {
    await Promise.all([...workers, pubWorker].map((w) => stopChild(w)));
    await server.stop();
  }
}

function scenarioTitle(s: Scenario): string {
  return `(${s.id}) ${s.channels} channel${s.channels > 1 ? 's' : ''} × ${s.subsPerChannel} subscribers`;
}

function printRows(rows: Row[]): void {
  for (const s of SCENARIOS) {
    for (const mode of ['rate', 'max'] as const) {
      const rs = rows.filter((r) => r.scenario === s.id && r.mode === mode);
      if (rs.length === 0) continue;
      const how = mode === 'rate' ? `fixed rate ${s.rate} publications/s` : `as fast as possible, window ${s.window} publications`;
      console.log(`\n${scenarioTitle(s)}, ${how}; median of ${REPS} × ${DURATION_MS / 1000} s`);
      console.log(
        table(
          ['server', 'deliveries/s', 'p50 ms', 'p99 ms', 'server µs/deliv', '(sys %)', 'client µs/deliv', 'server RSS MB', 'client RSS MB', 'lost'],
          rs.map((r) => [
            r.server,
            r.deliveriesPerSec,
            r.p50Ms,
            r.p99Ms,
            r.serverUsPerDelivery,
            `${Math.round(r.serverSysShare * 100)}%`,
            r.clientUsPerDelivery,
            r.serverRssMb,
            r.clientRssMb,
            `${r.lost + r.publishErrors + r.drops}`,
          ]),
        ),
      );
    }
  }
}

function ratios(rows: Row[]): Ratio[] {
  const out: Ratio[] = [];
  const find = (s: string, m: string, n: string) => rows.find((r) => r.scenario === s && r.mode === m && r.serverName === n);
  for (const s of SCENARIOS) {
    for (const mode of ['rate', 'max'] as const) {
      for (const mycelName of ['mycel', 'mycel-defaults']) {
        const m = find(s.id, mode, mycelName);
        if (!m) continue;
        const tag = `${s.id}/${mode}${mycelName === 'mycel' ? '' : ' (defaults)'}`;
        const sio = find(s.id, mode, 'socketio');
        const ws = find(s.id, mode, 'ws');
        if (sio) {
          out.push({ name: `${tag} server µs/delivery vs socket.io`, mycel: m.serverUsPerDelivery, peer: sio.serverUsPerDelivery, goal: { max: 0.5, text: '≤ 0.50' } });
          out.push({ name: `${tag} p99 ms vs socket.io`, mycel: m.p99Ms, peer: sio.p99Ms, goal: { max: 0.5, text: '≤ 0.50' } });
        }
        if (ws) {
          out.push({ name: `${tag} server µs/delivery vs ws`, mycel: m.serverUsPerDelivery, peer: ws.serverUsPerDelivery, goal: { max: 1, text: '≤ 1.00' } });
          out.push({ name: `${tag} p99 ms vs ws`, mycel: m.p99Ms, peer: ws.p99Ms });
        }
      }
    }
  }
  return out;
}

installCleanup();
if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
console.log(
  `fanout: node ${process.version}, ${availableParallelism()} cores, load ${loadAverage()}, payload ${PAYLOAD_BYTES} B JSON, ` +
    `Mycel subscribers: ${MYCEL_CLIENT} client, ${SUB_PROCS} subscriber process(es) + 1 publisher process, ${REPS} × ${DURATION_MS / 1000} s per phase${QUICK ? ', QUICK' : ''}`,
);
const rows: Row[] = [];
for (const scenario of SCENARIOS) {
  console.log(`\n${scenarioTitle(scenario)}`);
  for (const { name, spec } of SERVERS) rows.push(...(await runServer(scenario, name, spec)));
}
printRows(rows);
const rs = ratios(rows);
if (rs.length > 0) console.log(`\nratios (mycel / peer; lower is better)\n${ratioTable(rs)}`);
const failures = rows.filter((r) => r.lost !== 0 || r.publishErrors !== 0 || r.drops !== 0);
if (failures.length > 0) console.log(`\nWARNING: lost deliveries, publish errors or dropped connections in: ${failures.map((r) => `${r.server} ${r.scenario}/${r.mode}`).join(', ')}`);
writeJson(values.json, { node: process.version, cores: availableParallelism(), quick: QUICK, durationMs: DURATION_MS, reps: REPS, mycelClient: MYCEL_CLIENT, subProcs: SUB_PROCS, rows, ratios: rs });
