// Soak: a real `mycel serve` child process (defaults: history, presence and recovery on) under
// steady load with churn for a few minutes, its memory sampled over time. The load, the same
// every second: resident subscribers that stay connected, publishers publishing at a fixed
// rate, and churning clients that connect, subscribe (or publish once) and go away after a
// short life, three in four closing cleanly (centrifuge `disconnect()`), one in four dropping
// the socket without a close frame (raw protocol client, `terminate()`). Every sample is RSS and heapUsed after a full GC in the
// server (--expose-gc; the control channel of bench/_lib/control.ts), so garbage that is merely
// not yet collected does not count as growth.
//
// Verdict (printed with the numbers): the samples of the first 15 % are warm-up and left out;
// of the rest, the least-squares slope of the first third and of the last third are compared,
// for RSS and for heap. A series has levelled off when its last-third slope is below the
// floor (RSS 2 MB/min, heap 0.5 MB/min: less than that over a few minutes is noise on a shared
// machine) or at most a quarter of its first-third slope. A leak grows at the same rate in
// both thirds and fails the check.
//
// Usage: npm run bench -- soak [--minutes 3] [--short] [--json FILE]
//          [--resident N] [--churn N] [--publish N] [--channels N]
// --short is a smoke check of ~20 s (samples every 2 s); its verdict means little.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { installCleanup } from './_lib/children.js';
import { loadAverage } from './_lib/proc-stats.js';
import { fmt, table, writeJson } from './_lib/report.js';
import { connectPublisher, connectSubscriber, signToken, type Connection, type ConnectTarget, type Payload, type Publisher } from './_lib/rt-clients.js';
import { MYCEL_DEFAULTS, startServer } from './_lib/servers.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '3' },
    short: { type: 'boolean', default: false },
    json: { type: 'string' },
    resident: { type: 'string', default: '200' },
    churn: { type: 'string', default: '20' },
    publish: { type: 'string', default: '200' },
    channels: { type: 'string', default: '50' },
  },
});

const SHORT = values.short;
const DURATION_MS = SHORT ? 20_000 : Number(values.minutes) * 60_000;
if (!(DURATION_MS > 0)) throw new Error('--minutes must be a positive number');
const SAMPLE_MS = SHORT ? 2000 : Math.max(2000, Math.round(DURATION_MS / 36));
const RESIDENT = Number(values.resident);
/** Churning clients started per second. */
const CHURN = Number(values.churn);
/** Publications per second, spread over the publishers. */
const PUBLISH = Number(values.publish);
const CHANNELS = Number(values.channels);
const PUBLISHERS = 4;
/** A churning client lives this long (uniform between the two). */
const LIFE_MS = [500, 4000] as const;
const WARMUP = 0.15;
const FLOOR_MB_PER_MIN = { rss: 2, heap: 0.5 } as const;
const API_KEY = randomBytes(24).toString('hex');

interface Sample {
  /** Seconds since the load started. */
  t: number;
  rssMb: number;
  heapMb: number;
  /** Clients of this process connected at the time (resident + publishers + churning). */
  clients: number;
}

interface Counters {
  churned: number;
  churnFailures: number;
  published: number;
  received: number;
}

const mb = (bytes: number): number => bytes / 2 ** 20;
const channel = (i: number): string => `soak-${i % CHANNELS}`;

/** Least-squares slope of y over t (seconds), in units per minute. */
function slopePerMinute(points: Sample[], y: (s: Sample) => number): number {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + y(p), 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (y(p) - my);
    den += (p.t - mt) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

interface Verdict {
  series: 'rss' | 'heap';
  firstSlope: number;
  lastSlope: number;
  levelled: boolean;
}

function verdict(samples: Sample[], series: 'rss' | 'heap'): Verdict {
  const steady = samples.slice(Math.floor(samples.length * WARMUP));
  const third = Math.max(2, Math.floor(steady.length / 3));
  const y = series === 'rss' ? (s: Sample) => s.rssMb : (s: Sample) => s.heapMb;
  const firstSlope = slopePerMinute(steady.slice(0, third), y);
  const lastSlope = slopePerMinute(steady.slice(-third), y);
  const levelled = lastSlope < FLOOR_MB_PER_MIN[series] || lastSlope <= 0.25 * firstSlope;
  return { series, firstSlope, lastSlope, levelled };
}

installCleanup();
const server = await startServer({ kind: 'mycel', label: 'mycel (defaults)', mycelChannel: MYCEL_DEFAULTS }, { apiKey: API_KEY });
const target: ConnectTarget = { kind: 'mycel', url: server.url, mycelClient: 'centrifuge', timeoutMs: 10_000 };
const counters: Counters = { churned: 0, churnFailures: 0, published: 0, received: 0 };
const onData = (): void => void counters.received++;
const live = new Set<Connection>();
let users = 0;
const token = (): Promise<string> => signToken(API_KEY, `u${users++}`);

console.log(
  `soak: node ${process.version}, ${availableParallelism()} cores, load ${loadAverage()}, ${fmt(DURATION_MS / 60_000)} min${SHORT ? ' (SHORT)' : ''}: ` +
    `${RESIDENT} resident subscribers, ${PUBLISHERS} publishers at ${PUBLISH}/s in total, ${CHURN} churning clients/s ` +
    `(life ${LIFE_MS[0]}–${LIFE_MS[1]} ms), ${CHANNELS} channels, server sampled every ${SAMPLE_MS / 1000} s after GC`,
);

const samples: Sample[] = [];
let stopping = false;
const pending = new Set<Promise<void>>();
const track = (p: Promise<void>): void => {
  pending.add(p);
  void p.finally(() => pending.delete(p));
};

try {
  const base = await server.memory(true);
  console.log(`  baseline before any client: RSS ${fmt(mb(base.rss))} MB, heap ${fmt(mb(base.heapUsed))} MB`);

  const residents: Connection[] = [];
  for (let i = 0; i < RESIDENT; i += 20) {
    residents.push(...(await Promise.all(Array.from({ length: Math.min(20, RESIDENT - i) }, async (_, j) => connectSubscriber(target, await token(), channel(i + j), onData)))));
  }
  const publishers: Publisher[] = await Promise.all(Array.from({ length: PUBLISHERS }, async () => connectPublisher(target, await token())));

  /** One churning client: connect, subscribe or publish once, live a while, close or drop. */
  const churnOne = async (n: number): Promise<void> => {
    const kind = n % 4;
    let conn: Connection | undefined;
    try {
      if (kind === 3) {
        const p = await connectPublisher(target, await token());
        conn = p;
        p.publish(channel(n), { t: Date.now(), s: -1, p: '' });
      } else {
        conn = await connectSubscriber({ ...target, mycelClient: kind === 1 ? 'raw' : 'centrifuge' }, await token(), channel(n), onData);
      }
      live.add(conn);
      await sleep(LIFE_MS[0] + Math.random() * (LIFE_MS[1] - LIFE_MS[0]));
    } catch {
      counters.churnFailures++;
    } finally {
      if (conn) {
        conn.close();
        live.delete(conn);
      }
      counters.churned++;
    }
  };

  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  // Publishers: a fixed rate in ticks of 50 ms.
  let seq = 0;
  const publishTimer = setInterval(() => {
    const batch = Math.round(PUBLISH / 20);
    for (let i = 0; i < batch; i++) {
      const s = seq++;
      publishers[s % PUBLISHERS]!.publish(channel(s), { t: Date.now(), s, p: 'x'.repeat(64) } satisfies Payload);
      counters.published++;
    }
  }, 50);
  // Churn: CHURN new clients per second, in ticks of 100 ms.
  let churnSeq = 0;
  let churnDebt = 0;
  const churnTimer = setInterval(() => {
    churnDebt += CHURN / 10;
    for (; churnDebt >= 1 && !stopping; churnDebt--) track(churnOne(churnSeq++));
  }, 100);

  while (elapsed() < DURATION_MS) {
    await sleep(Math.min(SAMPLE_MS, DURATION_MS - elapsed() + 1));
    const m = await server.memory(true);
    const sample: Sample = { t: elapsed() / 1000, rssMb: mb(m.rss), heapMb: mb(m.heapUsed), clients: RESIDENT + PUBLISHERS + live.size };
    samples.push(sample);
    console.log(
      `  t=${sample.t.toFixed(0).padStart(4)} s  RSS ${sample.rssMb.toFixed(1).padStart(6)} MB  heap ${sample.heapMb.toFixed(1).padStart(5)} MB  ` +
        `clients ${sample.clients}  churned ${counters.churned} (failed ${counters.churnFailures})  published ${counters.published}  received ${counters.received}`,
    );
  }

  stopping = true;
  clearInterval(publishTimer);
  clearInterval(churnTimer);
  await Promise.all(pending);
  for (const c of [...residents, ...publishers]) c.close();
  // Closes reach the server asynchronously.
  await sleep(2000);
  const drained = await server.memory(true);
  const drops = [...residents, ...publishers].reduce((a, c) => a + c.drops, 0);
  const publishErrors = publishers.reduce((a, p) => a + p.errors, 0);

  const verdicts = [verdict(samples, 'rss'), verdict(samples, 'heap')];
  console.log(`\nsamples (after GC; the first ${WARMUP * 100} % are warm-up and not judged)`);
  console.log(table(['t s', 'RSS MB', 'heap MB', 'clients'], samples.map((s) => [s.t.toFixed(0), s.rssMb.toFixed(1), s.heapMb.toFixed(1), s.clients])));
  console.log(`\nafter all clients left: RSS ${fmt(mb(drained.rss))} MB, heap ${fmt(mb(drained.heapUsed))} MB (baseline ${fmt(mb(base.rss))} / ${fmt(mb(base.heapUsed))} MB)`);
  console.log(
    `load: ${counters.churned} churning clients (${counters.churnFailures} failed to connect), ${counters.published} publications sent, ` +
      `${counters.received} delivered to resident and churning subscribers, ${publishErrors} publish errors, ${drops} resident drops`,
  );
  console.log(
    `\nverdict: a series levelled off when its slope over the last third of the steady samples is < ${FLOOR_MB_PER_MIN.rss} MB/min (RSS) / ` +
      `< ${FLOOR_MB_PER_MIN.heap} MB/min (heap), or at most 1/4 of its slope over the first third`,
  );
  console.log(
    table(
      ['series', 'first third MB/min', 'last third MB/min', 'verdict'],
      verdicts.map((v) => [v.series, v.firstSlope.toFixed(2), v.lastSlope.toFixed(2), v.levelled ? 'levelled off' : 'STILL GROWING']),
    ),
  );
  writeJson(values.json, { durationMs: DURATION_MS, sampleMs: SAMPLE_MS, resident: RESIDENT, churnPerSecond: CHURN, publishPerSecond: PUBLISH, channels: CHANNELS, samples, drained, counters, publishErrors, drops, verdicts });
  if (drops > 0 || publishErrors > 0) {
    console.error(`FAILED: ${drops} resident connections dropped, ${publishErrors} publish errors`);
    process.exitCode = 1;
  } else if (!SHORT && verdicts.some((v) => !v.levelled)) {
    process.exitCode = 1;
  }
} finally {
  stopping = true;
  await server.stop();
}
