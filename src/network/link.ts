/**
 * A node link: one authenticated connection between a client node and a server node, over a
 * transport that moves text messages (`MessagePipe`: WebSocket or SSE + HTTP). `Link` frames,
 * parses and bounds what arrives, and closes with an `error` message on anything wrong; what
 * a message means is the caller's (`onMessage`): replication on this side, and the
 * `LinkMessageHandler`s other services register (forwarded writes).
 */
import { isMycelError, MycelError } from '../errors.js';
import type { Logger } from '../log.js';
import { encodeMessage, errorMessageOf, parseMessage, type NetworkMessage } from './protocol.js';

export type LinkTransport = 'websocket' | 'sse';

export interface LinkChannel {
  /** Known after hello. */
  readonly peerNodeId: string;
  readonly transport: LinkTransport;
  /** Throws LINK_CLOSED when closed. */
  send(message: NetworkMessage): void;
  /** Bytes queued and not yet written (flow control / status). */
  readonly bufferedBytes: number;
  close(code: string, message: string): void;
}

/** Handlers for message types that are not replication's own (C registers 'forward'/'forwarded'). */
export interface LinkMessageHandler {
  /** true = handled. */
  onMessage(link: LinkChannel, message: NetworkMessage): boolean;
  onLinkClosed?(link: LinkChannel): void;
}

/** How a link ended: the code and text of the error that ended it (sent or received), or null for a clean close. */
export interface LinkEnd {
  code: string;
  message: string;
  details?: Record<string, unknown> | undefined;
  /** True when the peer said so (an `error` message from it); false when this side decided. */
  byPeer: boolean;
}

/** What a transport gives a link: text messages both ways. */
export interface MessagePipe {
  readonly transport: LinkTransport;
  readonly bufferedBytes: number;
  /** Sends one message; dropped silently once the pipe is closed (the link knows it is). */
  send(text: string): void;
  /** Flushes what was sent, then closes the transport. */
  close(): void;
  /** Starts delivery: `onText` for each message in order, `onClosed` once when the transport ends. */
  start(events: { onText(text: string): void; onClosed(reason: string, code?: string): void }): void;
}

export interface LinkOptions {
  maxMessageBytes: number;
  log: Logger;
  /** Each message after parsing; a throw closes the link with the error's code. */
  onMessage(link: Link, message: NetworkMessage): void | Promise<void>;
  /** Once, when the link has ended for any reason. */
  onEnd(link: Link, end: LinkEnd | null): void;
}

/** A link over a pipe. `peerNodeId` is set by the side that checks the peer's hello. */
export class Link implements LinkChannel {
  readonly #pipe: MessagePipe;
  readonly #options: LinkOptions;
  #peerNodeId = '';
  #closed = false;
  /** How the link ended, once decided (null: a clean close). */
  #end: LinkEnd | null | undefined = undefined;
  #endReported = false;
  /** Messages are handled one at a time, in order, even when a handler awaits. */
  #queue: Promise<void> = Promise.resolve();

  constructor(pipe: MessagePipe, options: LinkOptions) {
    this.#pipe = pipe;
    this.#options = options;
  }

  /** Starts reading from the pipe. */
  start(): void {
    this.#pipe.start({
      onText: (text) => this.#receive(text),
      onClosed: (reason, code) => this.#finish(this.#end === undefined ? { code: code ?? 'LINK_CLOSED', message: reason, byPeer: code === undefined } : this.#end),
    });
  }

  get peerNodeId(): string {
    return this.#peerNodeId;
  }

  set peerNodeId(id: string) {
    this.#peerNodeId = id;
  }

  get transport(): LinkTransport {
    return this.#pipe.transport;
  }

  get bufferedBytes(): number {
    return this.#pipe.bufferedBytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(message: NetworkMessage): void {
    if (this.#closed) throw new MycelError('LINK_CLOSED');
    this.#pipe.send(encodeMessage(message));
  }

  /** Sends `error` with the code and closes. */
  close(code: string, message: string, details?: Record<string, unknown>): void {
    if (this.#closed) return;
    const end: LinkEnd = { code, message, details, byPeer: false };
    this.#end = end;
    this.#pipe.send(encodeMessage(errorMessageOf(code, message, details)));
    this.#closed = true;
    this.#pipe.close();
    this.#finish(end);
  }

  /** Closes with the code of `err` (INTERNAL for anything that is not a MycelError, logged). */
  fail(err: unknown): void {
    if (isMycelError(err)) {
      this.close(err.code, err.message, err.details);
      return;
    }
    this.#options.log.error({ err, peer: this.#peerNodeId }, 'node link failed');
    this.close('INTERNAL', 'Internal error');
  }

  /** Closes without an error (shutdown, server entry removed). */
  shutdown(): void {
    if (this.#closed) return;
    this.#end = null;
    this.#closed = true;
    this.#pipe.close();
    this.#finish(null);
  }

  #receive(text: string): void {
    if (this.#closed) return;
    let message: NetworkMessage;
    try {
      message = parseMessage(text, this.#options.maxMessageBytes);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (message.t === 'error') {
      const end: LinkEnd = { code: message.code, message: message.message, details: message.details, byPeer: true };
      this.#end = end;
      this.#closed = true;
      this.#pipe.close();
      this.#finish(end);
      return;
    }
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        await this.#options.onMessage(this, message);
      } catch (err) {
        this.fail(err);
      }
    });
  }

  /** Reports the end once, whichever path (ours, the peer's error, the transport) came first. */
  #finish(end: LinkEnd | null): void {
    this.#closed = true;
    if (this.#endReported) return;
    this.#endReported = true;
    this.#options.onEnd(this, end);
  }
}
