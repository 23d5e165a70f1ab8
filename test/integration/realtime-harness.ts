/**
 * Shared pieces of the realtime tests (test/integration/realtime-*.test.ts): a RealtimeNode
 * with the WebSocket transport on a real HTTP server on 127.0.0.1:0, JWT signing with the
 * test API key, real `centrifuge` clients (with `ws` as their WebSocket) that are closed in
 * teardown, a raw protocol client, a TCP proxy that can freeze a connection, and waiting
 * helpers that wait on events with a timeout (no sleeps).
 */
import { once, type EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, connect as tcpConnect, type Server as TcpServer, type Socket } from 'node:net';
import { Centrifuge, type Options as CentrifugeOptions, type TransportEndpoint } from 'centrifuge';
import { SignJWT, type JWTPayload } from 'jose';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import type { ConnectCredentials, RealtimeTuning } from '../../src/realtime/context.js';
import type { Persistence } from '../../src/realtime/persist.js';
import { RealtimeNode } from '../../src/realtime/realtime-node.js';
import { attachWebSocket, type WebSocketHandle } from '../../src/realtime/transports/websocket.js';
import { silentLog } from '../helpers/core.js';
import type { RealtimeBackendInstance } from '../helpers/realtime-backends.js';
import { Waiters } from '../helpers/waiters.js';

export const API_KEY = 'test-api-key-0123456789abcdef0123456789';

/** Namespaces most tests use. */
export const TEST_NAMESPACES: NonNullable<NonNullable<ConfigInput['realtime']>['namespaces']> = {
  chat: { historySize: 100, historyTtlSeconds: 300, recovery: true, joinLeave: true },
  nohist: { historySize: 0 },
  public: { subscribe: 'anonymous', publish: 'anonymous', history: 'anonymous', presence: 'anonymous' },
  closed: { subscribe: 'none', publish: 'none' },
  admin: { subscribe: 'owner', publish: 'owner' },
  nopresence: { presenceEnabled: false },
};

/** What every realtime test server is made of (this harness and realtime-http-harness.ts). */
export interface ServerOptions {
  backend: RealtimeBackendInstance;
  realtime?: ConfigInput['realtime'];
  tuning?: Partial<RealtimeTuning>;
  persist?: Persistence;
}

export interface StartOptions extends ServerOptions {
  credentials?: ConnectCredentials;
  batch?: boolean;
  registry?: Registry;
}

export interface RealtimeServer {
  readonly node: RealtimeNode;
  readonly http: Server;
  ws: WebSocketHandle;
  /** ws://127.0.0.1:<port>/connection/websocket */
  readonly url: string;
  readonly port: number;
  readonly registry: Registry;
  /** A centrifuge client on this server (or `url`), closed by close(). */
  client(options?: Partial<CentrifugeOptions>, url?: string): Centrifuge;
  /** A raw WebSocket on this server, closed by close(). */
  raw(url?: string): Promise<RawClient>;
  /** Replaces the node on the same HTTP server (graceful restart tests). */
  restartNode(): Promise<RealtimeNode>;
  close(): Promise<void>;
}

export function realtimeConfig(input: ConfigInput['realtime'] = {}) {
  return configSchema.parse({
    realtime: { apiKey: API_KEY, namespaces: TEST_NAMESPACES, ...input },
  }).realtime;
}

export interface TestNodeOptions {
  backend: RealtimeBackendInstance;
  registry: Registry;
  tuning?: Partial<RealtimeTuning> | undefined;
  persist?: Persistence | undefined;
  credentials?: ConnectCredentials | undefined;
  instanceId?: string | undefined;
}

/** A RealtimeNode of the tests: on `backend`, silent, ticking every 50 ms unless `tuning` says otherwise. */
export function testNode(config: ReturnType<typeof realtimeConfig>, options: TestNodeOptions): RealtimeNode {
  return new RealtimeNode({
    config,
    bus: options.backend.bus,
    history: options.backend.history,
    presence: options.backend.presence,
    registry: options.registry,
    log: silentLog,
    tuning: { tickMs: 50, ...options.tuning },
    ...(options.instanceId ? { instanceId: options.instanceId } : {}),
    ...(options.persist ? { persist: options.persist } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
}

/** Reconnect and timeout settings of every test client: short, so tests never wait on backoff. */
export const CLIENT_TIMING = { minReconnectDelay: 50, maxReconnectDelay: 300, timeout: 3000 } as const;

/** A centrifuge client over WebSocket (`ws`) to `url`, with CLIENT_TIMING unless `options` say otherwise. */
export function wsCentrifuge(url: string | TransportEndpoint[], options: Partial<CentrifugeOptions> = {}): Centrifuge {
  return new Centrifuge(url, { websocket: WebSocket, ...CLIENT_TIMING, ...options });
}

/** Adds `client` to `clients` (which the owner disconnects in teardown) and returns it. */
export function tracked(clients: Centrifuge[], client: Centrifuge): Centrifuge {
  // Errors are part of what tests observe; an unhandled 'error' event must not crash the runner.
  client.on('error', () => {});
  clients.push(client);
  return client;
}

/** Signs a JWT with the test API key (HS256). `expSeconds` is relative to now. */
export async function sign(claims: JWTPayload & Record<string, unknown>, options: { expSeconds?: number; key?: string } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' });
  if (options.expSeconds !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + options.expSeconds);
  return jwt.sign(new TextEncoder().encode(options.key ?? API_KEY));
}

export async function startRealtime(options: StartOptions): Promise<RealtimeServer> {
  const registry = options.registry ?? new Registry();
  const config = realtimeConfig(options.realtime);
  const makeNode = (): RealtimeNode => testNode(config, { ...options, registry });
  let node = makeNode();
  const http = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as { port: number }).port;
  const wsOptions = options.batch === undefined ? {} : { batch: options.batch };
  let ws = attachWebSocket(http, node, wsOptions);
  const url = `ws://127.0.0.1:${port}/connection/websocket`;
  const clients: Centrifuge[] = [];
  const raws: RawClient[] = [];
  const server: RealtimeServer = {
    get node() {
      return node;
    },
    http,
    get ws() {
      return ws;
    },
    set ws(v) {
      ws = v;
    },
    url,
    port,
    registry,
    client(opts = {}, target = url) {
      return tracked(clients, wsCentrifuge(target, opts));
    },
    async raw(target = url) {
      const r = await RawClient.open(target);
      raws.push(r);
      return r;
    },
    async restartNode() {
      await node.shutdown(1000);
      await ws.close();
      node = makeNode();
      ws = attachWebSocket(http, node, wsOptions);
      return node;
    },
    async close() {
      for (const c of clients) c.disconnect();
      for (const r of raws) r.terminate();
      await node.shutdown(1000);
      await ws.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  return server;
}

/** A hand-driven protocol client: sends raw frames, collects every JSON line received. */
export class RawClient {
  readonly ws: WebSocket;
  readonly received: Array<Record<string, unknown>> = [];
  /** Raw WebSocket messages (each may hold several lines). */
  readonly messages: string[] = [];
  closeCode: number | null = null;
  closeReason = '';
  readonly #waiters = new Waiters(() => `received ${JSON.stringify(this.received).slice(0, 2000)}`);

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const text = (data as Buffer).toString('utf8');
      this.messages.push(text);
      for (const line of text.split('\n')) if (line.trim() !== '') this.received.push(JSON.parse(line) as Record<string, unknown>);
      this.#waiters.notify();
    });
    ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.#waiters.notify();
    });
    ws.on('error', () => {});
  }

  static async open(url: string): Promise<RawClient> {
    const ws = new WebSocket(url);
    const client = new RawClient(ws);
    await once(ws, 'open');
    return client;
  }

  send(frame: string | object): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Sends commands as one frame (lines joined by \n). */
  sendBatch(commands: object[]): void {
    this.ws.send(commands.map((c) => JSON.stringify(c)).join('\n'));
  }

  /** Waits for a received line that matches. */
  waitFor(match: (msg: Record<string, unknown>) => boolean, timeoutMs = 5000, what = 'message'): Promise<Record<string, unknown>> {
    return this.#waiters.wait(() => this.received.find(match), timeoutMs, what);
  }

  /** Waits for the reply to command `id`. */
  reply(id: number, timeoutMs = 5000): Promise<Record<string, unknown>> {
    return this.waitFor((m) => m.id === id, timeoutMs, `reply ${id}`);
  }

  waitClose(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return this.#waiters.wait(() => (this.closeCode === null ? undefined : { code: this.closeCode, reason: this.closeReason }), timeoutMs, 'close');
  }

  terminate(): void {
    this.ws.terminate();
  }
}

/**
 * Waits for `event` on an emitter whose arguments pass `match`; rejects after timeoutMs.
 * Events emitted before the call are missed: register before causing them.
 */
export function waitEvent<T = unknown>(emitter: EventEmitter | { on: Function; off: Function }, event: string, match: (arg: T) => boolean = () => true, timeoutMs = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const e = emitter as EventEmitter;
    const listener = (arg: T): void => {
      if (!match(arg)) return;
      clearTimeout(timer);
      e.off(event, listener);
      resolve(arg);
    };
    const timer = setTimeout(() => {
      e.off(event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    e.on(event, listener);
  });
}

/** Collects every `event` of an emitter into an array (a live view). */
export function collect<T = unknown>(emitter: EventEmitter | { on: Function }, event: string): T[] {
  const out: T[] = [];
  (emitter as EventEmitter).on(event, (arg: T) => out.push(arg));
  return out;
}

/** Waits until `check()` is truthy, re-checking on every `event` of the emitter; bounded by timeoutMs. */
export function waitUntilEvent<T>(emitter: EventEmitter | { on: Function; off: Function }, event: string, check: () => T | undefined | false | null, timeoutMs = 5000, what = 'condition'): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const e = emitter as EventEmitter;
    const attempt = (): boolean => {
      const v = check();
      if (!v) return false;
      clearTimeout(timer);
      e.off(event, attempt);
      resolve(v);
      return true;
    };
    const timer = setTimeout(() => {
      e.off(event, attempt);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    if (!attempt()) e.on(event, attempt);
  });
}

/**
 * A TCP proxy in front of a server. `freeze()` stops forwarding on the connections open now
 * (both directions) without closing them: to the client it looks like a dead network.
 * Connections made later flow normally.
 */
export class FreezableProxy {
  readonly server: TcpServer;
  readonly #pairs = new Set<[Socket, Socket]>();
  readonly #frozen = new Set<[Socket, Socket]>();
  port = 0;

  private constructor(targetPort: number) {
    this.server = createTcpServer((client) => {
      const upstream = tcpConnect(targetPort, '127.0.0.1');
      const pair: [Socket, Socket] = [client, upstream];
      this.#pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const end = (): void => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
  }

  static async start(targetPort: number): Promise<FreezableProxy> {
    const p = new FreezableProxy(targetPort);
    await new Promise<void>((resolve) => p.server.listen(0, '127.0.0.1', resolve));
    p.port = (p.server.address() as { port: number }).port;
    return p;
  }

  freeze(): void {
    for (const pair of this.#pairs) {
      const [client, upstream] = pair;
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
      this.#frozen.add(pair);
    }
  }

  /** Ends the frozen connections, as a network timeout eventually would. */
  dropFrozen(): void {
    for (const [client, upstream] of this.#frozen) {
      client.destroy();
      upstream.destroy();
    }
    this.#frozen.clear();
  }

  async close(): Promise<void> {
    for (const [client, upstream] of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
