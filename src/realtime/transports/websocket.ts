/**
 * The WebSocket transport at /connection/websocket (JSON protocol, text frames).
 *
 * Writes are batched: frames queued for one socket in the same event-loop turn go out as one
 * WebSocket message, joined with `\n` (the protocol allows several replies/pushes per message).
 * A socket with a single queued frame sends it as a Buffer shared with every other socket that
 * got the same frame this turn, so a publication fanned out to N subscribers is encoded to
 * bytes once, not N times.
 */
import type { Server } from 'node:http';
import type { WebSocket } from 'ws';
import type { RealtimeNode } from '../realtime-node.js';
import type { Transport } from '../transport.js';
import { closeWithGrace, messageText, serveWebSocketEndpoint } from './ws-endpoint.js';

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
    closeWithGrace(this.#ws, code, reason, this.#closeGraceMs);
  }
}

/** Serves the realtime protocol over WebSocket on `server`'s upgrade requests for `path`. */
export function attachWebSocket(server: Server, node: RealtimeNode, options: WebSocketOptions = {}): WebSocketHandle {
  const batch = options.batch ?? true;
  const closeGraceMs = options.closeGraceMs ?? 3000;
  const path = options.path ?? '/connection/websocket';
  const endpoint = serveWebSocketEndpoint(server, path, node.config.maxMessageBytes, (ws, meta) => {
    const session = node.connect(new WebSocketTransport(ws, batch, closeGraceMs), meta);
    ws.on('message', (data) => session.handleFrame(messageText(data)));
    return session;
  });

  return {
    get size() {
      return endpoint.sockets.size;
    },
    close: () => endpoint.close(),
  };
}
