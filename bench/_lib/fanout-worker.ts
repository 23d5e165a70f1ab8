/**
 * A client process of bench/fanout: either the subscribers (a share of them) or the publisher.
 *
 * Subscribers record publish→receive latency (the payload's send time against
 * `performance.timeOrigin + performance.now()` here) and report, in batches, the sequence
 * numbers whose every local subscriber has received them ("done"). The coordinator relays those
 * to the publisher, which counts a publication complete when every subscriber process holding
 * its channel reported it: that is what bounds the in-flight window of the max-rate mode.
 */
import { Histogram } from './histogram.js';
import { emit, serveIpc } from './ipc.js';
import { connectPublisher, connectSubscriber, mapBounded, signToken, type ConnectTarget, type Connection, type Payload, type Publisher } from './rt-clients.js';

const now = (): number => performance.timeOrigin + performance.now();

// ---- subscribers -------------------------------------------------------------------------

export interface SubscribersSetup {
  target: ConnectTarget;
  apiKey: string;
  /** One entry per subscriber: its channel and user id. */
  subs: Array<{ channel: string; user: string }>;
  connectConcurrency: number;
}

export interface SubscribersReport {
  received: number;
  hist: { counts: number[]; max: number };
  drops: number;
  /** Receive time of the last publication, ms (timeOrigin-based). */
  lastReceiveAt: number;
}

let connections: Connection[] = [];
let hist = new Histogram();
let received = 0;
let lastReceiveAt = 0;
const localSubs = new Map<string, number>();
/** seq → local subscribers still to receive it. */
let remaining = new Map<number, number>();
let doneBatch: number[] = [];
let doneScheduled = false;

function flushDone(): void {
  doneScheduled = false;
  const seqs = doneBatch;
  doneBatch = [];
  emit('done', seqs);
}

function onData(channel: string, data: Payload): void {
  const t = now();
  hist.record(t - data.t);
  received++;
  lastReceiveAt = t;
  const left = (remaining.get(data.s) ?? localSubs.get(channel)!) - 1;
  if (left > 0) {
    remaining.set(data.s, left);
    return;
  }
  remaining.delete(data.s);
  doneBatch.push(data.s);
  if (!doneScheduled) {
    doneScheduled = true;
    setImmediate(flushDone);
  }
}

async function setupSubscribers(body: SubscribersSetup): Promise<{ connectMs: number }> {
  const t0 = performance.now();
  for (const s of body.subs) localSubs.set(s.channel, (localSubs.get(s.channel) ?? 0) + 1);
  const tokens = await Promise.all(body.subs.map((s) => signToken(body.apiKey, s.user)));
  connections = await mapBounded(body.subs, body.connectConcurrency, (s, i) => connectSubscriber(body.target, tokens[i]!, s.channel, (d) => onData(s.channel, d)));
  return { connectMs: performance.now() - t0 };
}

function reset(): void {
  hist = new Histogram();
  received = 0;
  lastReceiveAt = 0;
  remaining = new Map();
}

function report(): SubscribersReport {
  let drops = 0;
  for (const c of connections) drops += c.drops;
  return { received, hist: hist.toJSON(), drops, lastReceiveAt };
}

// ---- publisher ---------------------------------------------------------------------------

export interface PublisherSetup {
  target: ConnectTarget;
  apiKey: string;
}

export interface RunSpec {
  mode: 'rate' | 'max';
  /** Publications per second over all channels (mode rate). */
  rate: number;
  /** Publications in flight, i.e. not yet received by every subscriber (mode max). */
  window: number;
  durationMs: number;
  /** How long to wait for stragglers after the last publish. */
  drainMs: number;
  /** Channels, published to round-robin. */
  channels: string[];
  /** Per channel (same order): how many subscriber processes hold subscribers of it. */
  processesPerChannel: number[];
  /** Padding so the JSON payload is about the target size. */
  pad: string;
}

export interface RunReport {
  published: number;
  completed: number;
  /** Publications per channel index, to compute the expected deliveries. */
  perChannel: number[];
  startedAt: number;
  /** When the last publication completed (every subscriber got it). */
  lastCompletedAt: number;
  publishErrors: number;
  drops: number;
}

let publisher: Publisher | undefined;
let onDone: ((seqs: number[]) => void) | undefined;

async function setupPublisher(body: PublisherSetup): Promise<void> {
  publisher = await connectPublisher(body.target, await signToken(body.apiKey, 'publisher'));
}

function run(spec: RunSpec): Promise<RunReport> {
  const pub = publisher!;
  const perChannel = new Array<number>(spec.channels.length).fill(0);
  const waiting = new Map<number, number>(); // seq → subscriber processes still to report it
  let seq = 0;
  let completed = 0;
  let lastCompletedAt = 0;
  let sending = true;
  const startedAt = now();
  const errorsBefore = pub.errors;

  const send = (): void => {
    const ci = seq % spec.channels.length;
    const s = ++seq;
    waiting.set(s, spec.processesPerChannel[ci]!);
    perChannel[ci]!++;
    pub.publish(spec.channels[ci]!, { t: now(), s, p: spec.pad });
  };
  const pump = (): void => {
    while (sending && waiting.size < spec.window) send();
  };

  return new Promise<RunReport>((resolve) => {
    let finished = false;
    let drainTimer: NodeJS.Timeout | undefined;
    let rateTimer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(drainTimer);
      clearInterval(rateTimer);
      onDone = undefined;
      resolve({ published: seq, completed, perChannel, startedAt, lastCompletedAt, publishErrors: pub.errors - errorsBefore, drops: pub.drops });
    };
    onDone = (seqs) => {
      for (const s of seqs) {
        const left = waiting.get(s);
        if (left === undefined) continue;
        if (left > 1) {
          waiting.set(s, left - 1);
          continue;
        }
        waiting.delete(s);
        completed++;
        lastCompletedAt = now();
      }
      if (spec.mode === 'max') pump();
      if (!sending && waiting.size === 0) finish();
    };
    const stop = (): void => {
      sending = false;
      clearInterval(rateTimer);
      if (waiting.size === 0) finish();
      else drainTimer = setTimeout(finish, spec.drainMs);
    };
    setTimeout(stop, spec.durationMs);
    if (spec.mode === 'max') {
      pump();
    } else {
      // Catch-up pacing: each tick sends what the rate owes by now, so timer jitter does not lower the rate.
      const t0 = performance.now();
      rateTimer = setInterval(() => {
        const owed = Math.floor(((performance.now() - t0) / 1000) * spec.rate);
        while (sending && seq < owed) send();
      }, 2);
    }
  });
}

serveIpc(
  {
    setupSubscribers: (b: SubscribersSetup) => setupSubscribers(b),
    setupPublisher: (b: PublisherSetup) => setupPublisher(b),
    reset: () => reset(),
    report: () => report(),
    run: (b: RunSpec) => run(b),
    close: () => {
      for (const c of connections) c.close();
      publisher?.close();
      connections = [];
      // Let the close frames go out before the coordinator stops the server.
      return new Promise((r) => setTimeout(r, 200));
    },
  },
  {
    done: (seqs: number[]) => onDone?.(seqs),
  },
);
