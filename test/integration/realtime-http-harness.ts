/**
 * Shared pieces of the realtime HTTP tests (emulation, unidirectional, server API): a
 * RealtimeNode with the realtime routes (registerRealtimeRoutes) on a real fastify app
 * listening on 127.0.0.1:0, plus the bidirectional WebSocket on the same server; real
 * `centrifuge` clients on the http_stream and sse transports (Node 20 has no EventSource:
 * undici's is passed in); a reader of raw event streams. Everything is closed by close().
 */
import { Centrifuge, type Options as CentrifugeOptions } from 'centrifuge';
import Fastify, { type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { EventSource } from 'undici';
import { errorHandler } from '../../src/http/errors.js';
import { registerRealtimeRoutes } from '../../src/http/routes/realtime.js';
import type { ConnectCredentials } from '../../src/realtime/context.js';
import type { RealtimeNode } from '../../src/realtime/realtime-node.js';
import { attachWebSocket, type WebSocketHandle } from '../../src/realtime/transports/websocket.js';
import { silentLog } from '../helpers/core.js';
import { Waiters } from '../helpers/waiters.js';
import { API_KEY, CLIENT_TIMING, realtimeConfig, testNode, tracked, wsCentrifuge, type ServerOptions } from './realtime-harness.js';

export { API_KEY };

export interface HttpRealtimeOptions extends ServerOptions {
  /** server.bodyLimit (the server API's body limit); default 1 MiB. */
  bodyLimit?: number;
  /** Fixed instance id (emulation routing tests). */
  instanceId?: string;
  /** Accepts connect tokens that are not JWTs (owner sessions). */
  credentials?: ConnectCredentials;
}

export type EmulationTransport = 'http_stream' | 'sse';

export interface HttpRealtimeServer {
  readonly node: RealtimeNode;
  readonly app: FastifyInstance;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly base: string;
  readonly ws: WebSocketHandle;
  /** A centrifuge client on an emulation transport, closed by close(). */
  client(transport: EmulationTransport, options?: Partial<CentrifugeOptions>, emulationBase?: string): Centrifuge;
  /** A centrifuge client over WebSocket, closed by close(). */
  wsClient(options?: Partial<CentrifugeOptions>): Centrifuge;
  close(): Promise<void>;
}

export async function startHttpRealtime(options: HttpRealtimeOptions): Promise<HttpRealtimeServer> {
  const config = realtimeConfig(options.realtime);
  const node = testNode(config, {
    backend: options.backend,
    registry: new Registry(),
    tuning: options.tuning,
    persist: options.persist,
    instanceId: options.instanceId,
    credentials: options.credentials,
  });
  const app = Fastify({ loggerInstance: silentLog }) as unknown as FastifyInstance;
  app.setErrorHandler(errorHandler);
  await registerRealtimeRoutes(app, {
    realtime: node,
    config: { server: { bodyLimit: options.bodyLimit ?? 1024 * 1024 }, realtime: config },
    log: silentLog,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  const ws = attachWebSocket(app.server, node);
  const clients: Centrifuge[] = [];
  return {
    node,
    app,
    port,
    base,
    ws,
    client(transport, opts = {}, emulationBase = base) {
      const endpoint = `${base}/connection/${transport}`;
      return tracked(
        clients,
        new Centrifuge([{ transport, endpoint }], {
          fetch: globalThis.fetch,
          readableStream: globalThis.ReadableStream,
          eventsource: EventSource,
          // Node has no page to resolve a relative endpoint against.
          emulationEndpoint: `${emulationBase}/emulation`,
          ...CLIENT_TIMING,
          ...opts,
        }),
      );
    },
    wsClient(opts = {}) {
      return tracked(clients, wsCentrifuge(`ws://127.0.0.1:${port}/connection/websocket`, opts));
    },
    async close() {
      for (const c of clients) c.disconnect();
      await node.shutdown(1000);
      await ws.close();
      await app.close();
    },
  };
}

/**
 * Reads a streaming HTTP response line by line (HTTP-streaming) or event by event (SSE) with
 * undici's fetch, and lets a test wait for what arrived.
 */
export class StreamReader {
  readonly lines: string[] = [];
  status = 0;
  headers: Headers | null = null;
  ended = false;
  readonly #abort = new AbortController();
  readonly #waiters = new Waiters(() => `got ${JSON.stringify(this.lines).slice(0, 2000)}`);
  #done: Promise<void> = Promise.resolve();

  /** Opens `url` and starts reading; resolves once the status and headers are in. */
  static async open(url: string, init: RequestInit & { sse?: boolean } = {}): Promise<StreamReader> {
    const reader = new StreamReader();
    const res = await fetch(url, { ...init, signal: reader.#abort.signal });
    reader.status = res.status;
    reader.headers = res.headers;
    reader.#done = reader.#read(res, init.sse === true);
    return reader;
  }

  async #read(res: Response, sse: boolean): Promise<void> {
    if (!res.body) {
      this.ended = true;
      this.#waiters.notify();
      return;
    }
    const decoder = new TextDecoder();
    let buffer = '';
    const separator = sse ? '\n\n' : '\n';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let at: number;
        while ((at = buffer.indexOf(separator)) !== -1) {
          const piece = buffer.slice(0, at);
          buffer = buffer.slice(at + separator.length);
          if (sse) {
            const data = piece
              .split('\n')
              .map((l) => l.replace(/^\r/, ''))
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).replace(/^ /, ''));
            if (data.length > 0) this.lines.push(data.join('\n'));
          } else if (piece.trim() !== '') this.lines.push(piece);
        }
        this.#waiters.notify();
      }
    } catch {
      // Aborted by close(), or the connection dropped: both end the stream.
    }
    this.ended = true;
    this.#waiters.notify();
  }

  /** Parsed JSON of every line so far. */
  get messages(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  waitFor(match: (msg: Record<string, unknown>) => boolean, timeoutMs = 5000, what = 'line'): Promise<Record<string, unknown>> {
    return this.#waiters.wait(() => this.messages.find(match), timeoutMs, what);
  }

  waitEnd(timeoutMs = 5000): Promise<true> {
    return this.#waiters.wait(() => (this.ended ? true : undefined), timeoutMs, 'end of stream');
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }
}
