/**
 * The server end of a node link over SSE + HTTP (when WebSocket is off, or the client asks):
 * GET /api/v1/nodes/link/events carries the server's messages as `data:` lines (the first
 * one `{t:'link', linkId}`), POST /api/v1/nodes/link/{linkId}/messages the client's. The HTTP
 * routes (src/http/routes/node-link.ts) own the response; this pipe only writes to it.
 */
import type { MessagePipe } from '../link.js';
import { KEEPALIVE_MS } from './websocket-pipe.js';

export const LINK_EVENTS_PATH = '/api/v1/nodes/link/events';

/** What the route gives the pipe of its response stream. */
export interface SseOutput {
  write(text: string): void;
  end(): void;
  readonly writableLength: number;
}

export class SseServerPipe implements MessagePipe {
  readonly transport = 'sse' as const;
  readonly linkId: string;
  readonly #out: SseOutput;
  #events: { onText(text: string): void; onClosed(reason: string): void } | null = null;
  #closed = false;
  readonly #keepalive: NodeJS.Timeout;

  constructor(linkId: string, out: SseOutput) {
    this.linkId = linkId;
    this.#out = out;
    out.write(`data: ${JSON.stringify({ t: 'link', linkId })}\n\n`);
    // A comment line now and then keeps proxies from closing an idle stream.
    this.#keepalive = setInterval(() => {
      if (!this.#closed) out.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
    this.#keepalive.unref();
  }

  get bufferedBytes(): number {
    return this.#out.writableLength;
  }

  send(text: string): void {
    if (this.#closed) return;
    // JSON.stringify escapes line breaks, so a message is always one `data:` line.
    this.#out.write(`data: ${text}\n\n`);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    this.#out.end();
    this.#events?.onClosed('link closed');
  }

  start(events: { onText(text: string): void; onClosed(reason: string): void }): void {
    this.#events = events;
  }

  /** Messages from the client's POST, in order. */
  deliver(texts: readonly string[]): void {
    if (this.#closed) return;
    for (const text of texts) this.#events?.onText(text);
  }

  /** The client went away (the response stream closed). */
  ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#keepalive);
    this.#events?.onClosed('SSE stream closed');
  }

  get closed(): boolean {
    return this.#closed;
  }
}
