/**
 * The whole HTTP edge on a real socket, composed as `mycel serve` composes it: the HTTP app
 * (buildHttpApp) with the realtime routes and the WebSocket on the same server, listening on
 * 127.0.0.1:0, on SQLite and the in-process realtime backend. Plus a raw HTTP/1.1 client
 * (net.connect) for requests no well-behaved client would send.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { ConfigInput } from '../../src/config/schema.js';
import { registerRealtimeRoutes } from '../../src/http/routes/realtime.js';
import type { RealtimeNode } from '../../src/realtime/realtime-node.js';
import { attachWebSocket, type WebSocketHandle } from '../../src/realtime/transports/websocket.js';
import { Registry } from 'prom-client';
import { realtimeBackends, type RealtimeBackend } from '../helpers/realtime-backends.js';
import { storageBackends } from '../helpers/storage.js';
import { silentLog } from '../helpers/core.js';
import { Waiters } from '../helpers/waiters.js';
import { servedNetwork, startHarness, type Harness } from './http-harness.js';
import { API_KEY, realtimeConfig, testNode } from './realtime-harness.js';

export { API_KEY };

export interface Edge {
  readonly harness: Harness;
  readonly node: RealtimeNode;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly base: string;
  close(): Promise<void>;
}

/** Starts the edge with `config` (realtime.apiKey defaults to the tests' API_KEY). */
export async function startEdge(config: ConfigInput = {}): Promise<Edge> {
  const full: ConfigInput = { ...config, realtime: { apiKey: API_KEY, ...config.realtime } };
  // With the node network, as `mycel serve` has it: every route of the document answers as served.
  const harness = await startHarness(storageBackends[0]!, { config: full, network: servedNetwork });
  let backend: RealtimeBackend | undefined;
  let ws: WebSocketHandle | undefined;
  let node: RealtimeNode | undefined;
  try {
    backend = await realtimeBackends[0]!.create();
    const realtime = realtimeConfig(full.realtime);
    node = testNode(realtime, { backend, registry: new Registry() });
    await registerRealtimeRoutes(harness.app, { realtime: node, config: { server: { bodyLimit: 1024 * 1024 }, realtime }, log: silentLog });
    ws = attachWebSocket(harness.app.server, node);
    await harness.app.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    await node?.shutdown(0);
    await ws?.close();
    await harness.close();
    await backend?.cleanup();
    throw err;
  }
  const port = (harness.app.server.address() as { port: number }).port;
  const ready = { node, ws, backend };
  return {
    harness,
    node,
    port,
    base: `http://127.0.0.1:${port}`,
    async close() {
      await ready.node.shutdown(500);
      await ready.ws.close();
      await harness.close();
      await ready.backend.cleanup();
    },
  };
}

/** A parsed raw HTTP/1.1 response. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses the first response in `text`, or undefined while it is incomplete. */
export function parseRawResponse(text: string): RawResponse | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!match) throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = text.slice(end + 4);
  // An interim response (100 Continue) comes before the real one.
  const status = Number(match[1]);
  if (status >= 100 && status < 200 && status !== 101) return parseRawResponse(rest);
  const length = headers['content-length'];
  if (length !== undefined) {
    if (Buffer.byteLength(rest) < Number(length)) return undefined;
    return { status: Number(match[1]), headers, body: Buffer.from(rest).subarray(0, Number(length)).toString('utf8') };
  }
  return { status: Number(match[1]), headers, body: rest };
}

/**
 * A raw TCP client: writes whatever bytes a test gives it and collects what comes back, so a
 * test can wait for a response or for the server to close the connection.
 */
export class RawHttp {
  readonly socket: Socket;
  received = '';
  closed = false;
  readonly #waiters = new Waiters(() => `received ${JSON.stringify(this.received.slice(0, 500))}, closed ${this.closed}`);

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.received += chunk;
      this.#waiters.notify();
    });
    // A reset is one way the server ends a refused connection; the test looks at what arrived.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.#waiters.notify();
    });
  }

  static open(port: number): Promise<RawHttp> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        resolve(new RawHttp(socket));
      });
      socket.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  /** The first complete response, or null when the connection closed without one. */
  answer(timeoutMs = 5000): Promise<RawResponse | null> {
    return this.#waiters.wait(() => parseRawResponse(this.received) ?? (this.closed ? null : undefined), timeoutMs, 'a response');
  }

  /** The first complete response; fails when the connection closes without one. */
  async response(timeoutMs = 5000): Promise<RawResponse> {
    const res = await this.answer(timeoutMs);
    if (res === null) throw new Error(`closed without a complete response: ${JSON.stringify(this.received.slice(0, 500))}`);
    return res;
  }

  /** Resolves once the server has closed the connection. */
  waitClosed(timeoutMs = 5000): Promise<true> {
    return this.#waiters.wait(() => (this.closed ? true : undefined), timeoutMs, 'the connection to close');
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Sends `request` on a fresh connection and returns the response (the connection is closed after). */
export async function rawRequest(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  const client = await RawHttp.open(port);
  try {
    client.write(request);
    return await client.response(timeoutMs);
  } finally {
    client.close();
  }
}

/** Asserts the registry's error shape: JSON `{"error":{"code","message",...}}` with an x-request-id. */
export function assertRegistryError(res: RawResponse, status: number, code: string, where: string): void {
  assert.equal(res.status, status, `${where}: ${JSON.stringify(res)}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, `${where}: content type`);
  assert.match(res.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/, `${where}: x-request-id`);
  const body = JSON.parse(res.body) as { error?: { code?: unknown; message?: unknown } };
  assert.equal(body.error?.code, code, `${where}: ${res.body}`);
  assert.equal(typeof body.error?.message, 'string', `${where}: message`);
}
