/**
 * A Transport over one long-lived HTTP response: the base of HTTP-streaming and SSE, in their
 * bidirectional (emulation) and unidirectional forms. Framework-free: it writes to Node's
 * `ServerResponse`, so any HTTP layer can hand one over (fastify does with `reply.hijack()`).
 *
 * Frames a session writes in one event-loop turn go out as one chunk (one write, one flush).
 * The response is never corked: a reply must reach the client in the same turn it is made.
 * `close()` writes the format's disconnect line, ends the response and, if the peer does not
 * read (a slow consumer), destroys the socket after a grace period so it cannot hang forever.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeDisconnectPush } from '../protocol/frames.js';
import type { RealtimeNode } from '../realtime-node.js';
import type { ClientConnection } from '../client-connection.js';
import type { Transport, TransportName } from '../transport.js';
import { connectionMeta } from './connection-meta.js';

/** How lines are framed on the wire. */
export interface StreamFormat {
  /** Written right after the headers (SSE: `\r\n`, so proxies and clients see the stream open). */
  readonly preamble: string;
  /** The wire form of one frame (one or more JSON lines joined by `\n`). */
  frame(data: string): string;
}

/** The line written before the stream ends on a disconnect (emulation: a push; uni: a bare push). */
export type DisconnectLine = (code: number, reason: string) => string;

/** `<line>\n` per line (HTTP-streaming). */
export const NDJSON_FORMAT = { preamble: '', frame: (data: string) => `${data}\n` } as const;

/** `data: <line>\n\n` per line, no event name (SSE). */
export const SSE_FORMAT = {
  preamble: '\r\n',
  frame(data: string): string {
    if (data.indexOf('\n') === -1) return `data: ${data}\n\n`;
    let out = '';
    for (const line of data.split('\n')) if (line.length > 0) out += `data: ${line}\n\n`;
    return out;
  },
} as const;

export interface ResponseStreamOptions {
  /** After close, how long a peer that does not read keeps its socket (default 3000 ms). */
  closeGraceMs?: number;
}

export interface ServeStreamOptions extends ResponseStreamOptions {
  /** Further response headers (CORS). */
  headers?: Record<string, string>;
}

/** A kind of response stream (http-stream.ts, sse.ts): its framing, content type and transport names. */
export interface StreamKind {
  /** The bidirectional emulation transport. */
  readonly name: 'http_stream' | 'sse';
  /** The unidirectional transport. */
  readonly uniName: 'uni_http_stream' | 'uni_sse';
  readonly format: StreamFormat;
  readonly contentType: string;
}

export class ResponseStreamTransport implements Transport {
  readonly name: TransportName;
  readonly emulation: boolean;
  readonly #res: ServerResponse;
  readonly #format: StreamFormat;
  readonly #disconnectLine: DisconnectLine;
  readonly #closeGraceMs: number;
  #pending = '';
  #scheduled = false;
  #ended = false;
  #resClosed = false;
  /** The session fed by this transport; set by `attach`. */
  session: ClientConnection | null = null;

  constructor(
    res: ServerResponse,
    name: TransportName,
    emulation: boolean,
    format: StreamFormat,
    disconnectLine: DisconnectLine,
    options: ResponseStreamOptions = {},
  ) {
    this.#res = res;
    this.name = name;
    this.emulation = emulation;
    this.#format = format;
    this.#disconnectLine = disconnectLine;
    this.#closeGraceMs = options.closeGraceMs ?? 3000;
    res.once('close', () => {
      this.#resClosed = true;
    });
  }

  /** Sends the status line and headers at once (the client treats the stream as open then). */
  open(headers: Record<string, string>): void {
    const res = this.#res;
    res.socket?.setNoDelay(true);
    res.writeHead(200, headers);
    if (this.#format.preamble) res.write(this.#format.preamble);
    else res.flushHeaders();
  }

  /**
   * Ties the transport to its session: the end of the response (the client went away) closes
   * the session. Call right after `RealtimeNode.connect`.
   */
  attach(session: ClientConnection): void {
    this.session = session;
    this.#res.once('close', () => session.onTransportClosed());
    // 'close' follows any error; there is nothing else to do with it.
    this.#res.on('error', () => {});
  }

  write(data: string): void {
    if (this.#ended) return;
    this.#pending += this.#format.frame(data);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#pending === '') return;
    const chunk = this.#pending;
    this.#pending = '';
    if (!this.#res.destroyed) this.#res.write(chunk);
  }

  bufferedBytes(): number {
    return this.#res.writableLength + this.#pending.length;
  }

  close(code: number, reason: string): void {
    if (this.#ended) return;
    this.#pending += this.#format.frame(this.#disconnectLine(code, reason));
    this.#flush();
    this.#ended = true;
    const res = this.#res;
    if (res.destroyed) return;
    if (!res.headersSent) res.writeHead(200);
    res.end();
    const timer = setTimeout(() => res.destroy(), this.#closeGraceMs);
    timer.unref();
    res.once('close', () => clearTimeout(timer));
  }

  /** Whether the transport has ended its response. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Calls `listener` once the response is over: ended and flushed, or the connection dropped. */
  onEnd(listener: () => void): void {
    if (this.#resClosed) listener();
    else this.#res.once('close', listener);
  }

  /** Cuts the connection off at once (shutdown, after the grace period). */
  destroy(): void {
    this.#res.destroy();
  }
}

/** Headers of every streaming response: no caching, no proxy buffering. */
export function streamHeaders(contentType: string, req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': contentType,
    'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0',
    Pragma: 'no-cache',
    Expires: '0',
    // nginx buffers proxied responses unless told otherwise; a buffered stream never delivers.
    'X-Accel-Buffering': 'no',
  };
  // Connection-specific headers are forbidden in HTTP/2.
  if (req.httpVersionMajor === 1) headers.Connection = 'keep-alive';
  return headers;
}

/**
 * Opens `transport`'s response and connects a new session to it, fed `connectFrame` (a connect
 * command): how every response stream starts, bidirectional or unidirectional.
 */
export function startStream<T extends ResponseStreamTransport>(
  node: RealtimeNode,
  req: IncomingMessage,
  transport: T,
  contentType: string,
  connectFrame: string,
  headers?: Record<string, string>,
): T {
  transport.open({ ...streamHeaders(contentType, req), ...headers });
  const session = node.connect(transport, connectionMeta(req));
  transport.attach(session);
  session.handleFrame(connectFrame);
  return transport;
}

/**
 * Opens an emulation stream of `kind` on `res` and feeds `connectFrame` (the client's connect
 * command as it sent it) to a new session. The caller has checked that it is not empty and
 * within realtime.maxMessageBytes; anything malformed in it ends the stream with disconnect 3501.
 */
export function serveResponseStream(
  kind: StreamKind,
  node: RealtimeNode,
  req: IncomingMessage,
  res: ServerResponse,
  connectFrame: string,
  options: ServeStreamOptions = {},
): ResponseStreamTransport {
  const transport = new ResponseStreamTransport(res, kind.name, true, kind.format, encodeDisconnectPush, options);
  return startStream(node, req, transport, kind.contentType, connectFrame, options.headers);
}
