/**
 * Unidirectional WebSocket at /connection/uni_websocket: the client's first message is a bare
 * ConnectRequest; after that it only receives, one bare push per WebSocket message (see
 * unidirectional.ts). Later client messages are ignored. A disconnect is a close frame with
 * the code and reason, as on the bidirectional WebSocket.
 */
import type { IncomingMessage, Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { DISCONNECTS } from '../protocol/codes.js';
import type { RealtimeNode } from '../realtime-node.js';
import type { Session } from '../session.js';
import type { Transport } from '../transport.js';
import { uniConnectCommand, UniTranslator } from './unidirectional.js';
import { routeUpgrade } from '../../lib/upgrade-router.js';

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

function clampReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let r = reason.slice(0, 123);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
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
    const ws = this.#ws;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      ws.close(code, clampReason(reason));
      const timer = setTimeout(() => ws.terminate(), this.#closeGraceMs);
      timer.unref();
      ws.once('close', () => clearTimeout(timer));
    }
  }
}

/** Serves unidirectional WebSocket connections on `server`'s upgrade requests for `path`. */
export function attachUniWebSocket(server: Server, node: RealtimeNode, options: UniWebSocketOptions = {}): UniWebSocketHandle {
  const path = options.path ?? '/connection/uni_websocket';
  const closeGraceMs = options.closeGraceMs ?? 3000;
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: node.config.maxMessageBytes,
    handleProtocols: () => false,
  });
  const sockets = new Map<WebSocket, Session>();

  const onConnection = (ws: WebSocket, req: IncomingMessage): void => {
    const transport = new UniWebSocketTransport(ws, closeGraceMs);
    const meta: { remoteAddress?: string; userAgent?: string } = {};
    if (req.socket.remoteAddress) meta.remoteAddress = req.socket.remoteAddress;
    if (req.headers['user-agent']) meta.userAgent = req.headers['user-agent'];
    const session: Session = node.connect(transport, meta);
    sockets.set(ws, session);
    transport.translator.attach(session);
    let first = true;
    ws.on('message', (data) => {
      if (!first) return;
      first = false;
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
      const command = uniConnectCommand(text);
      if (command === null) session.close(DISCONNECTS.badRequest);
      else session.handleFrame(command);
    });
    ws.on('error', () => {
      // ws closes the socket after an error; 'close' follows.
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
    async close(graceMs = 1000) {
      unroute();
      const closing = [...sockets].map(([ws, session]) => {
        const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
        session.close(DISCONNECTS.shutdown);
        return closed;
      });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(closing),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      for (const ws of sockets.keys()) ws.terminate();
      sockets.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
