/**
 * The WebSocket transport at /connection/websocket (JSON protocol, text frames).
 *
 * Writes are batched: frames queued for one socket in the same event-loop turn go out as one
 * WebSocket message, joined with `\n` (the protocol allows several replies/pushes per message).
 * A socket with a single queued frame sends it as a Buffer shared with every other socket that
 * got the same frame this turn, so a publication fanned out to N subscribers is encoded to
 * bytes once, not N times.
 */
import type { IncomingMessage, Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import type { RealtimeNode } from '../realtime-node.js';
import type { Session } from '../session.js';
import type { Transport } from '../transport.js';
import { routeUpgrade } from '../../lib/upgrade-router.js';

export interface WebSocketOptions {
  /** Default /connection/websocket. */
  path?: string;
  /** Join frames queued in one turn into one message (default true). */
  batch?: boolean;
  /** After a close frame, how long a peer that does not answer keeps its socket (default 3000 ms). */
  closeGraceMs?: number;
}

export interface WebSocketHandle {
  /** Stops accepting upgrades and terminates the sockets still open (call node.shutdown first to send 3001). */
  close(): Promise<void>;
  /** Open sockets. */
  readonly size: number;
}

/** The WebSocket close reason is limited to 123 bytes. */
function clampReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let r = reason.slice(0, 123);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

// One-entry cache: consecutive sockets flushing the same frame share its bytes.
let lastText = '';
let lastBytes: Buffer = Buffer.alloc(0);
function bytesOf(text: string): Buffer {
  if (text !== lastText) {
    lastText = text;
    lastBytes = Buffer.from(text, 'utf8');
  }
  return lastBytes;
}

const dirty: WebSocketTransport[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  // A flush may queue more (e.g. a close); those go out in the next turn.
  const batch = dirty.splice(0, dirty.length);
  for (const t of batch) t.flush();
  lastText = '';
  lastBytes = Buffer.alloc(0);
}

class WebSocketTransport implements Transport {
  readonly name = 'websocket' as const;
  readonly emulation = false;
  readonly #ws: WebSocket;
  readonly #batch: boolean;
  readonly #closeGraceMs: number;
  #pending: string[] = [];
  #pendingBytes = 0;
  #queued = false;
  #closed = false;

  constructor(ws: WebSocket, batch: boolean, closeGraceMs: number) {
    this.#ws = ws;
    this.#batch = batch;
    this.#closeGraceMs = closeGraceMs;
  }

  write(data: string): void {
    if (this.#closed) return;
    if (!this.#batch) {
      if (this.#ws.readyState === this.#ws.OPEN) this.#ws.send(bytesOf(data), { binary: false });
      return;
    }
    this.#pending.push(data);
    this.#pendingBytes += data.length;
    if (!this.#queued) {
      this.#queued = true;
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushAll);
      }
    }
  }

  flush(): void {
    this.#queued = false;
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    if (pending.length === 1) this.#ws.send(bytesOf(pending[0]!), { binary: false });
    else this.#ws.send(pending.join('\n'), { binary: false });
  }

  bufferedBytes(): number {
    return this.#ws.bufferedAmount + this.#pendingBytes;
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    const ws = this.#ws;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      ws.close(code, clampReason(reason));
      // A peer that does not read (a slow consumer) never answers the close frame.
      const timer = setTimeout(() => ws.terminate(), this.#closeGraceMs);
      timer.unref();
      ws.once('close', () => clearTimeout(timer));
    }
  }
}

/** Serves the realtime protocol over WebSocket on `server`'s upgrade requests for `path`. */
export function attachWebSocket(server: Server, node: RealtimeNode, options: WebSocketOptions = {}): WebSocketHandle {
  const path = options.path ?? '/connection/websocket';
  const batch = options.batch ?? true;
  const closeGraceMs = options.closeGraceMs ?? 3000;
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: node.config.maxMessageBytes,
    // Only the JSON protocol is spoken; a client that insists on protobuf gets no subprotocol and fails.
    handleProtocols: () => false,
  });
  const sockets = new Set<WebSocket>();

  const onConnection = (ws: WebSocket, req: IncomingMessage): void => {
    sockets.add(ws);
    const transport = new WebSocketTransport(ws, batch, closeGraceMs);
    const meta: { remoteAddress?: string; userAgent?: string } = {};
    if (req.socket.remoteAddress) meta.remoteAddress = req.socket.remoteAddress;
    if (req.headers['user-agent']) meta.userAgent = req.headers['user-agent'];
    const session: Session = node.connect(transport, meta);
    ws.on('message', (data, isBinary) => {
      // Text is the protocol; a binary message is read as UTF-8 JSON too rather than refused.
      void isBinary;
      session.handleFrame(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8'));
    });
    ws.on('error', () => {
      // ws closes the socket after an error (e.g. a frame over maxPayload → 1009); 'close' follows.
    });
    ws.on('close', () => {
      sockets.delete(ws);
      session.onTransportClosed();
    });
  };

  const unroute = routeUpgrade(server, path, (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
  });

  return {
    get size() {
      return sockets.size;
    },
    async close() {
      unroute();
      for (const ws of sockets) ws.terminate();
      sockets.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
