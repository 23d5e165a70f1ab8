/**
 * The client end of a node link over SSE + HTTP: reads the server's messages from
 * GET /api/v1/nodes/link/events and posts its own, in order, one request at a time, to
 * POST /api/v1/nodes/link/{linkId}/messages. Both carry the session token as a Bearer header.
 */
import type { MessagePipe } from '../link.js';
import { LINK_EVENTS_PATH } from './sse-link-server.js';
import { refusalOf, TransportRefused } from './transport-refused.js';

function urlOf(baseUrl: string, path: string): string {
  return new URL(path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`).toString();
}

/** Splits an SSE byte stream into the `data` of its events. */
class SseParser {
  #buffer = '';
  #data: string[] = [];

  constructor(private readonly maxBytes: number) {}

  /** The data of each complete event in `chunk`; throws when a line grows past the bound. */
  push(chunk: string): string[] {
    this.#buffer += chunk;
    const out: string[] = [];
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      let line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (this.#data.length > 0) out.push(this.#data.join('\n'));
        this.#data = [];
      } else if (line.startsWith('data:')) {
        this.#data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
      // Comments (keepalive) and other fields are ignored.
    }
    if (this.#buffer.length > this.maxBytes + 64) throw new TransportRefused(0, 'CHUNK_TOO_LARGE', 'an SSE event is larger than network.maxMessageBytes');
    return out;
  }
}

/** Opens the event stream; resolves once the server has named the link. */
export async function openSsePipe(baseUrl: string, token: string, maxMessageBytes: number, timeoutMs = 10_000): Promise<MessagePipe> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response: Response;
  try {
    response = await fetch(urlOf(baseUrl, LINK_EVENTS_PATH), {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      signal: abort.signal,
    });
  } finally {
    clearTimeout(timer);
  }
  if (response.status !== 200 || !response.body) {
    const body = await response.text().catch(() => '');
    throw refusalOf(response.status, body);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser(maxMessageBytes);
  const early: string[] = [];
  // The first event names the link.
  let linkId: string | null = null;
  const firstTimer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    while (linkId === null) {
      const { value, done } = await reader.read();
      if (done) throw new TransportRefused(0, 'NETWORK_SERVER_UNREACHABLE', 'the SSE stream ended before naming the link');
      for (const data of parser.push(decoder.decode(value, { stream: true }))) {
        if (linkId === null) {
          const first = JSON.parse(data) as { t?: unknown; linkId?: unknown };
          if (first.t !== 'link' || typeof first.linkId !== 'string') throw new TransportRefused(0, 'BAD_MESSAGE', 'the SSE stream did not start with the link id');
          linkId = first.linkId;
        } else {
          early.push(data);
        }
      }
    }
  } catch (err) {
    abort.abort();
    throw err;
  } finally {
    clearTimeout(firstTimer);
  }
  return new SseClientPipe(baseUrl, token, linkId, maxMessageBytes, reader, decoder, parser, early, abort);
}

class SseClientPipe implements MessagePipe {
  readonly transport = 'sse' as const;
  readonly #postUrl: string;
  #queue: string[] = [];
  #queuedBytes = 0;
  #posting = false;
  #closed = false;
  #events: { onText(text: string): void; onClosed(reason: string, code?: string): void } | null = null;

  constructor(
    baseUrl: string,
    private readonly token: string,
    linkId: string,
    private readonly maxBytes: number,
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly decoder: InstanceType<typeof TextDecoder>,
    private readonly parser: SseParser,
    private readonly early: string[],
    private readonly abort: AbortController,
  ) {
    this.#postUrl = urlOf(baseUrl, `/api/v1/nodes/link/${encodeURIComponent(linkId)}/messages`);
  }

  get bufferedBytes(): number {
    return this.#queuedBytes;
  }

  send(text: string): void {
    if (this.#closed) return;
    this.#queue.push(text);
    this.#queuedBytes += text.length;
    if (!this.#posting) void this.#flush();
  }

  close(): void {
    if (this.#closed) return;
    // What was sent (an error message before the close) still goes out.
    this.#closed = true;
    if (!this.#posting) this.#end('link closed');
  }

  start(events: { onText(text: string): void; onClosed(reason: string, code?: string): void }): void {
    this.#events = events;
    for (const data of this.early) events.onText(data);
    void this.#read();
  }

  #ended = false;
  #end(reason: string, code?: string): void {
    this.#closed = true;
    if (this.#ended) return;
    this.#ended = true;
    this.abort.abort();
    this.#events?.onClosed(reason, code);
  }

  async #read(): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await this.reader.read();
        if (done) break;
        for (const data of this.parser.push(this.decoder.decode(value, { stream: true }))) {
          if (this.#ended) return;
          this.#events?.onText(data);
        }
      }
      this.#end('SSE stream ended');
    } catch (err) {
      this.#end(err instanceof Error ? err.message : 'SSE stream failed', err instanceof TransportRefused ? err.code : undefined);
    }
  }

  /** Posts the queue, one request at a time, so the server sees messages in order. */
  async #flush(): Promise<void> {
    this.#posting = true;
    try {
      while (this.#queue.length > 0 && !this.#ended) {
        // One POST carries what fits in network.maxMessageBytes (at least one message).
        let bytes = 0;
        let n = 0;
        while (n < this.#queue.length && (n === 0 || bytes + this.#queue[n]!.length <= this.maxBytes)) bytes += this.#queue[n++]!.length;
        const batch = this.#queue.splice(0, n);
        this.#queuedBytes -= bytes;
        const response = await fetch(this.#postUrl, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
          body: `{"messages":[${batch.join(',')}]}`,
        });
        if (response.status !== 202) {
          const refusal = refusalOf(response.status, await response.text().catch(() => ''));
          // The server's code (SESSION_EXPIRED: log in again; NODE_LINK_NOT_FOUND: the link is gone).
          this.#end(refusal.message, refusal.code);
          return;
        }
        await response.arrayBuffer().catch(() => undefined);
      }
    } catch (err) {
      this.#end(err instanceof Error ? err.message : 'POST failed');
      return;
    } finally {
      this.#posting = false;
    }
    if (this.#closed) this.#end('link closed');
  }
}
