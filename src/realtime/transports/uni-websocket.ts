/**
 * Unidirectional WebSocket at /connection/uni_websocket: the client's first message is a bare
 * ConnectRequest; after that it only receives, one bare push per WebSocket message (see
 * unidirectional.ts). Later client messages are ignored. A disconnect is a close frame with
 * the code and reason, as on the bidirectional WebSocket.
 */
import type { Server } from 'node:http';
import type { WebSocket } from 'ws';
import { waitAtMost } from '../../lib/wait.js';
import { DISCONNECTS } from '../protocol/codes.js';
import type { RealtimeNode } from '../realtime-node.js';
import type { Transport } from '../transport.js';
import { uniConnectCommand, UniTranslator } from './unidirectional.js';
import { closeWithGrace, messageText, serveWebSocketEndpoint } from './ws-endpoint.js';

export interface UniWebSocketOptions {
  /** Default /connection/uni_websocket. */
  path?: string;
  /** After a close frame, how long a peer that does not answer keeps its socket (default 3000 ms). */
  closeGraceMs?: number;
}

export interface UniWebSocketHandle {
  /**
   * Stops accepting upgrades, disconnects the open connections with 3001 (shutdown), waits up
   * to `graceMs` for their sockets to close and terminates the rest.
   */
  close(graceMs?: number): Promise<void>;
  readonly size: number;
}

class UniWebSocketTransport implements Transport {
  readonly name = 'uni_websocket' as const;
  readonly emulation = false;
  readonly translator = new UniTranslator();
  readonly #ws: WebSocket;
  readonly #closeGraceMs: number;
  #closed = false;

  constructor(ws: WebSocket, closeGraceMs: number) {
    this.#ws = ws;
    this.#closeGraceMs = closeGraceMs;
  }

  write(data: string): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return;
    for (const line of this.translator.translate(data)) this.#ws.send(line, { binary: false });
  }

  bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    closeWithGrace(this.#ws, code, reason, this.#closeGraceMs);
  }
}

/** Serves unidirectional WebSocket connections on `server`'s upgrade requests for `path`. */
export function attachUniWebSocket(server: Server, node: RealtimeNode, options: UniWebSocketOptions = {}): UniWebSocketHandle {
  const closeGraceMs = options.closeGraceMs ?? 3000;
  const path = options.path ?? '/connection/uni_websocket';
  const endpoint = serveWebSocketEndpoint(server, path, node.config.maxMessageBytes, (ws, meta) => {
    const transport = new UniWebSocketTransport(ws, closeGraceMs);
    const session = node.connect(transport, meta);
    transport.translator.attach(session);
    let first = true;
    ws.on('message', (data) => {
      if (!first) return;
      first = false;
      const command = uniConnectCommand(messageText(data));
      if (command === null) session.close(DISCONNECTS.badRequest);
      else session.handleFrame(command);
    });
    return session;
  });

  // Disconnects the open connections with 3001 and waits for their sockets to close.
  const drain = async (graceMs: number): Promise<void> => {
    const closing = [...endpoint.sockets].map(([ws, session]) => {
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      session.close(DISCONNECTS.shutdown);
      return closed;
    });
    await waitAtMost(Promise.all(closing), graceMs);
  };

  return {
    get size() {
      return endpoint.sockets.size;
    },
    close: (graceMs = 1000) => endpoint.close(() => drain(graceMs)),
  };
}
