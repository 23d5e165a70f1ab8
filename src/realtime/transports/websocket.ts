/**
 * The WebSocket transport at /connection/websocket (JSON protocol, text frames).
 *
 * Writes are batched: frames queued for one socket in the same event-loop turn go out as one
 * WebSocket message, joined with `\n` (the protocol allows several replies/pushes per message).
 * Every subscriber of a channel gets the same frames in the same turn, and sockets are flushed
 * in the order they were first written to, so the sockets of one channel flush one after
 * another: a socket whose queued frames are the same strings as the previous socket's reuses
 * that socket's encoded Buffer, so a publication (or a turn's batch of them) fanned out to N
 * subscribers is joined and encoded to bytes once, not N times.
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

// One-entry cache of the last flushed batch (its first frame, the frames after it) and its bytes.
let lastFirst = '';
let lastMore: readonly string[] | null = null;
const NO_BYTES = Buffer.alloc(0);
let lastBytes: Buffer = NO_BYTES;

/**
 * The bytes of `first` and `more` joined by `\n`; the previous result when the frames are the
 * same strings. Fanned-out frames are the same string objects, so the comparison is mostly a
 * pointer check; equal strings that are different objects compare by content, still correct.
 * The cache keeps `more` (the caller drops its reference to it).
 */
function bytesOfBatch(first: string, more: string[] | null): Buffer {
  if (first === lastFirst && sameFrames(more, lastMore)) return lastBytes;
  let text = first;
  if (more !== null) for (let i = 0; i < more.length; i++) text += '\n' + more[i]!;
  lastFirst = first;
  lastMore = more;
  lastBytes = Buffer.from(text, 'utf8');
  return lastBytes;
}

function sameFrames(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Without batching, consecutive sockets writing the same frame share its bytes.
let lastText = '';
let lastTextBytes: Buffer = Buffer.alloc(0);
function bytesOf(text: string): Buffer {
  if (text !== lastText) {
    lastText = text;
    lastTextBytes = Buffer.from(text, 'utf8');
  }
  return lastTextBytes;
}

function forgetBatch(): void {
  lastFirst = '';
  lastMore = null;
  lastBytes = NO_BYTES;
}

// Transports with frames queued this turn, in the order of their first write; flushAll swaps
// the two arrays so a flush that queues more (e.g. a close) lands in the next turn's list.
let dirty: WebSocketTransport[] = [];
let flushing: WebSocketTransport[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  const batch = dirty;
  dirty = flushing;
  flushing = batch;
  for (let i = 0; i < batch.length; i++) batch[i]!.flush();
  batch.length = 0;
  // Do not keep the last batch's frames and bytes alive until the next turn.
  forgetBatch();
}

class WebSocketTransport implements Transport {
  readonly name = 'websocket' as const;
  readonly emulation = false;
  readonly #ws: WebSocket;
  readonly #batch: boolean;
  readonly #closeGraceMs: number;
  /**
   * The frames queued this turn: the first one in a field and the rest, if any, in an array, so
   * the usual turn (one frame per socket) allocates nothing and an idle socket holds no array.
   */
  #first: string | null = null;
  #more: string[] | null = null;
  #pendingBytes = 0;
  /**
   * An upper bound of ws.bufferedAmount: its value when last read plus every byte sent since
   * (it only grows by our sends). Reading the getter per frame showed in profiles; the bound
   * is exact enough while it stays under the slow-consumer limit, and above it the real value
   * is read, so the 3008 decision is the same as with a read per frame.
   */
  #unsentBound = 0;
  readonly #limit: number;
  #queued = false;
  #closed = false;

  constructor(ws: WebSocket, batch: boolean, closeGraceMs: number, limit: number) {
    this.#ws = ws;
    this.#limit = limit;
    this.#batch = batch;
    this.#closeGraceMs = closeGraceMs;
  }

  write(data: string): void {
    if (this.#closed) return;
    if (!this.#batch) {
      if (this.#ws.readyState === this.#ws.OPEN) this.#ws.send(bytesOf(data), { binary: false });
      return;
    }
    if (this.#first === null) this.#first = data;
    else (this.#more ??= []).push(data);
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
    const first = this.#first;
    if (first === null) return;
    const more = this.#more;
    this.#first = null;
    this.#more = null;
    this.#pendingBytes = 0;
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    const bytes = bytesOfBatch(first, more);
    this.#ws.send(bytes, { binary: false });
    // A server frame's header is at most 10 bytes.
    this.#unsentBound += bytes.length + 10;
  }

  /**
   * Unsent bytes, or an upper bound of them while that bound is within the slow-consumer limit
   * (so whether they pass the limit is always answered exactly).
   */
  bufferedBytes(): number {
    if (!this.#batch) return this.#ws.bufferedAmount;
    if (this.#unsentBound + this.#pendingBytes > this.#limit) this.#unsentBound = this.#ws.bufferedAmount;
    return this.#unsentBound + this.#pendingBytes;
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
    const session = node.connect(new WebSocketTransport(ws, batch, closeGraceMs, node.config.maxQueuedBytes), meta);
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
