/**
 * Shared pieces of the multi-process realtime tests (test/e2e/realtime-cluster.test.ts,
 * test/e2e/realtime-redis-outage.test.ts): several real `mycel serve` processes that serve ONE
 * node (one PostgreSQL schema, one Redis), a TCP load balancer in front of them, real
 * `centrifuge` clients, the server API over HTTP, and a checker that proves a subscriber never
 * had a silent gap. A private `redis-server` comes from test/helpers/redis-server.ts.
 *
 * Everything started here is registered with a Cluster and ended by `cluster.cleanup()`
 * (clients, processes, balancers, Redis keys of the node, the schema, temp dirs),
 * also when a test failed half-way.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer, connect as tcpConnect, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Centrifuge, Options as CentrifugeOptions, Subscription, TransportEndpoint } from 'centrifuge';
import { API_KEY, sign, tracked, wsCentrifuge } from '../integration/realtime-harness.js';
import { startMycel, type ServingNode } from '../helpers/process.js';
import { deleteKeys } from '../helpers/realtime-backends.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

export { API_KEY, sign };

export const OWNER_PASSWORD = 'cluster-owner-password';

/** A `mycel serve` process of the cluster. */
export interface Instance {
  readonly name: string;
  readonly proc: ServingNode;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** ws://127.0.0.1:<port>/connection/websocket */
  readonly ws: string;
  readonly nodeId: string;
  readonly pid: number;
  /** Still running (no exit seen). */
  alive(): boolean;
}

export function wsUrl(port: number): string {
  return `ws://127.0.0.1:${port}/connection/websocket`;
}

/** Rejects after `ms` unless `work` settles first; names what it was waiting for. */
export async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every `intervalMs` until it returns a truthy value; bounded by timeoutMs. */
export async function pollUntil<T>(check: () => Promise<T | undefined | false | null> | T | undefined | false | null, timeoutMs: number, what: string, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * A TCP load balancer in front of Mycel instances, as in production: clients know one URL.
 * A new connection goes to the first backend that accepts it (so a dead instance is skipped);
 * with no backend it is refused. `setBackends` drains: connections made later go elsewhere,
 * open ones stay where they are.
 */
export class Balancer {
  readonly #server: TcpServer;
  #backends: number[];
  readonly #pairs = new Set<{ client: Socket; upstream: Socket; backend: number }>();
  /** Backend port of every connection made so far, in order. */
  readonly routed: number[] = [];
  port = 0;

  private constructor(backends: number[]) {
    this.#backends = backends;
    this.#server = createTcpServer((client) => this.#accept(client));
  }

  static async start(backends: number[]): Promise<Balancer> {
    const b = new Balancer(backends);
    await new Promise<void>((resolve) => b.#server.listen(0, '127.0.0.1', resolve));
    b.port = (b.#server.address() as { port: number }).port;
    return b;
  }

  get ws(): string {
    return wsUrl(this.port);
  }

  setBackends(ports: number[]): void {
    this.#backends = [...ports];
  }

  /** Open connections to a backend. */
  openTo(port: number): number {
    let n = 0;
    for (const p of this.#pairs) if (p.backend === port) n++;
    return n;
  }

  #accept(client: Socket): void {
    client.pause();
    client.on('error', () => client.destroy());
    const candidates = [...this.#backends];
    const attempt = (i: number): void => {
      const port = candidates[i];
      if (port === undefined || client.destroyed) {
        client.destroy();
        return;
      }
      const upstream = tcpConnect(port, '127.0.0.1');
      const failed = (): void => {
        upstream.destroy();
        attempt(i + 1);
      };
      upstream.once('error', failed);
      upstream.once('connect', () => {
        upstream.off('error', failed);
        if (client.destroyed) {
          upstream.destroy();
          return;
        }
        const pair = { client, upstream, backend: port };
        this.#pairs.add(pair);
        this.routed.push(port);
        const end = (): void => {
          this.#pairs.delete(pair);
          client.destroy();
          upstream.destroy();
        };
        client.on('close', end);
        upstream.on('error', end).on('close', end);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** What `POST /api/<method>` answered (HTTP 200 with `{result}` or `{error}`). */
export type ApiAnswer = { result?: Record<string, unknown>; error?: { code: number; message: string } };

/** Calls the server API of an instance with the API key in the X-API-Key header. */
export async function api(baseUrl: string, method: string, params: unknown, timeoutMs = 4000): Promise<ApiAnswer> {
  const res = await fetch(`${baseUrl}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
    body: JSON.stringify(params),
    signal: AbortSignal.timeout(timeoutMs),
  });
  assert.equal(res.status, 200, `POST /api/${method} answered ${res.status}`);
  return (await res.json()) as ApiAnswer;
}

/** A JSON request to the REST API; returns status and parsed body (`{}` when empty; T is not checked). */
export async function rest<T = Record<string, unknown>>(baseUrl: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as T };
}

export interface ClusterOptions {
  /** YAML of the config file given to every instance with --config. */
  configYaml: string;
  /** MYCEL_REDIS_URL of the instances. */
  redisUrl: string;
  /** More environment for every instance. */
  env?: Record<string, string>;
}

/**
 * One node served by several processes: a fresh PostgreSQL schema, a config file, and the
 * processes started with `start()`. The first start creates the node; start it alone.
 */
export class Cluster {
  readonly instances: Instance[] = [];
  readonly #clients: Centrifuge[] = [];
  readonly #closers: Array<() => Promise<void>> = [];
  #handle: StorageHandle | undefined;
  #dir: string | undefined;
  #configFile = '';
  #options: ClusterOptions;
  #nodeId: string | undefined;

  constructor(options: ClusterOptions) {
    this.#options = options;
  }

  /** Creates the schema and the config file. */
  async prepare(): Promise<void> {
    this.#dir = mkdtempSync(join(tmpdir(), 'mycel-cluster-'));
    this.#configFile = join(this.#dir, 'mycel.yaml');
    writeFileSync(this.#configFile, this.#options.configYaml);
    this.#handle = await storageBackends.find((b) => b.name === 'postgres')!.create();
  }

  get databaseUrl(): string {
    return this.#handle!.url;
  }

  /** The node's Redis key prefix (`mycel:<nodeId>`), known after the first start. */
  get redisPrefix(): string {
    if (!this.#nodeId) throw new Error('no instance started yet');
    return `mycel:${this.#nodeId}`;
  }

  /** Starts one more `mycel serve` of the node and waits until it listens. */
  async start(name: string): Promise<Instance> {
    const proc = await startMycel(
      {
        MYCEL_DATABASE_URL: this.#handle!.url,
        MYCEL_DB_DIR: join(this.#dir!, `data-${name}`),
        MYCEL_REDIS_URL: this.#options.redisUrl,
        MYCEL_API_KEY: API_KEY,
        MYCEL_OWNER_PASSWORD: OWNER_PASSWORD,
        MYCEL_NODE_NAME: 'cluster-node',
        MYCEL_LOG_LEVEL: 'info',
        ...this.#options.env,
      },
      ['--config', this.#configFile],
    );
    const listening = proc.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'listening');
    assert.ok(listening, `no "listening" line from ${name}`);
    assert.equal(listening.realtime, 'redis', `${name} does not run its realtime back-ends on Redis`);
    const nodeId = listening.nodeId as string;
    if (this.#nodeId === undefined) this.#nodeId = nodeId;
    assert.equal(nodeId, this.#nodeId, `${name} serves another node`);
    const port = Number(new URL(proc.url).port);
    const child = proc.child;
    const instance: Instance = {
      name,
      proc,
      url: proc.url,
      port,
      ws: wsUrl(port),
      nodeId,
      pid: child.pid!,
      alive: () => child.exitCode === null && child.signalCode === null,
    };
    this.instances.push(instance);
    return instance;
  }

  /** A centrifuge client (with `ws`) for `user`, closed by cleanup(). Call connect() yourself. */
  async client(url: string | TransportEndpoint[], user: string, options: Partial<CentrifugeOptions> = {}): Promise<Centrifuge> {
    // Transport errors during failover are expected: tracked() keeps them from crashing the runner.
    return tracked(this.#clients, wsCentrifuge(url, { token: await sign({ sub: user }), ...options }));
  }

  /** Runs `fn` in cleanup() (after the clients, before the processes stop). */
  onCleanup(fn: () => Promise<void>): void {
    this.#closers.push(fn);
  }

  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    const step = async (fn: () => Promise<void> | void): Promise<void> => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    for (const c of this.#clients) await step(() => c.disconnect());
    for (const close of this.#closers.reverse()) await step(close);
    await Promise.all(this.instances.map((i) => step(async () => void (await i.proc.stop('SIGTERM', 5000)))));
    if (this.#nodeId) await step(() => within(deleteKeys(this.#options.redisUrl, this.redisPrefix), 5000, 'the Redis keys of the node to be deleted'));
    if (this.#handle) await step(() => this.#handle!.cleanup());
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    if (errors.length > 0) throw errors[0];
  }
}

// ---- what a subscriber saw -----------------------------------------------------------------

export type SubEvent =
  | { kind: 'subscribing'; code: number; at: number }
  | { kind: 'subscribed'; recovered: boolean; wasRecovering: boolean; offset: number; epoch: string; at: number }
  | { kind: 'unsubscribed'; code: number; at: number }
  | { kind: 'publication'; offset: number; data: unknown; at: number };

/** Records a subscription's state changes and publications, in the order the client emitted them. */
export function record(sub: Subscription): SubEvent[] {
  const events: SubEvent[] = [];
  sub.on('subscribing', (ctx) => events.push({ kind: 'subscribing', code: ctx.code, at: Date.now() }));
  sub.on('subscribed', (ctx) =>
    events.push({
      kind: 'subscribed',
      recovered: ctx.recovered,
      wasRecovering: ctx.wasRecovering,
      offset: ctx.streamPosition?.offset ?? 0,
      epoch: ctx.streamPosition?.epoch ?? '',
      at: Date.now(),
    }),
  );
  sub.on('unsubscribed', (ctx) => events.push({ kind: 'unsubscribed', code: ctx.code, at: Date.now() }));
  sub.on('publication', (ctx) => events.push({ kind: 'publication', offset: ctx.offset ?? 0, data: ctx.data, at: Date.now() }));
  sub.on('error', () => {});
  return events;
}

/** One stretch of a subscription between two `subscribed` events. */
export interface Segment {
  epoch: string;
  /** The position the subscribe result gave. */
  start: number;
  /** The last offset delivered in this stretch (start when none). */
  end: number;
  recovered: boolean;
  wasRecovering: boolean;
  /** Offsets delivered, in order. */
  offsets: number[];
  data: unknown[];
}

/**
 * Splits a subscriber's events into segments and checks the no-silent-gap rules: within a
 * segment offsets go start+1, start+2, … without a hole or a repeat; every segment after the
 * first comes from a resubscribe that tried to recover; a segment that says `recovered: true`
 * continues exactly where the previous one stopped (same epoch, same offset). A first segment
 * without an epoch (its stream did not exist yet) takes the epoch of the recovery after it.
 */
export function segments(events: readonly SubEvent[], who: string): Segment[] {
  const out: Segment[] = [];
  for (const e of events) {
    if (e.kind === 'subscribed') {
      const prev = out[out.length - 1];
      if (prev) {
        assert.ok(e.wasRecovering, `${who}: resubscribed without trying to recover (a silent gap): ${JSON.stringify(e)}`);
        // A stream that did not exist at subscribe time (a persisted channel without a row) has
        // no epoch in the result; its first publication tells the client (not visible here).
        if (e.recovered && prev.epoch === '') prev.epoch = e.epoch;
        if (e.recovered) {
          assert.equal(e.epoch, prev.epoch, `${who}: recovered into another epoch`);
          assert.equal(e.offset, prev.end, `${who}: recovered from ${e.offset} but had seen up to ${prev.end}`);
        }
      }
      out.push({ epoch: e.epoch, start: e.offset, end: e.offset, recovered: e.recovered, wasRecovering: e.wasRecovering, offsets: [], data: [] });
      continue;
    }
    if (e.kind !== 'publication') continue;
    const seg = out[out.length - 1];
    assert.ok(seg, `${who}: a publication before the first subscribed event`);
    assert.equal(e.offset, seg.end + 1, `${who}: offset ${e.offset} after ${seg.end} in epoch ${seg.epoch} (a gap or a repeat)`);
    seg.end = e.offset;
    seg.offsets.push(e.offset);
    seg.data.push(e.data);
  }
  return out;
}

/**
 * Whether the subscriber received the publication at (epoch, offset), or was told it could not
 * recover it: a later segment with `recovered: false` covers what its predecessor had not seen
 * in the old epoch and what its own start position skips in the new one.
 */
export function accountedFor(segs: readonly Segment[], epoch: string, offset: number): 'received' | 'reported-lost' | 'missing' {
  for (const s of segs) if (s.epoch === epoch && offset > s.start && offset <= s.end) return 'received';
  for (let i = 1; i < segs.length; i++) {
    const cur = segs[i]!;
    if (cur.recovered) continue;
    const prev = segs[i - 1]!;
    if (prev.epoch === epoch && offset > prev.end && (cur.epoch !== epoch || offset <= cur.start)) return 'reported-lost';
    if (cur.epoch === epoch && prev.epoch !== epoch && offset <= cur.start) return 'reported-lost';
  }
  return 'missing';
}
