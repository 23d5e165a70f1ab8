/**
 * What the bidirectional (websocket.ts) and unidirectional (uni-websocket.ts) WebSocket
 * endpoints share: the ws server behind an upgrade route, the bookkeeping of open sockets and
 * their sessions, and closing a socket with a close frame and a grace period.
 */
import type { Server } from 'node:http';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Duplex } from 'node:stream';
import { MycelError } from '../../errors.js';
import { writeRawJsonResponse } from '../../lib/raw-http-response.js';
import { routeUpgrade } from '../../lib/upgrade-router.js';
import type { ClientConnection } from '../client-connection.js';
import type { ConnectionMeta } from '../transport.js';
import { connectionMeta } from './connection-meta.js';

/** The WebSocket close reason is limited to 123 bytes. */
const MAX_REASON_BYTES = 123;

/** `reason`, cut (at a character boundary) to fit a close frame. */
export function clampReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_REASON_BYTES) return reason;
  let r = reason.slice(0, MAX_REASON_BYTES);
  while (Buffer.byteLength(r) > MAX_REASON_BYTES) r = r.slice(0, -1);
  return r;
}

/**
 * Sends a close frame with `code` and `reason` unless the socket is closing already. A peer
 * that does not read (a slow consumer) never answers it, so its socket is terminated after
 * `graceMs`.
 */
export function closeWithGrace(ws: WebSocket, code: number, reason: string, graceMs: number): void {
  if (ws.readyState !== ws.OPEN && ws.readyState !== ws.CONNECTING) return;
  ws.close(code, clampReason(reason));
  const timer = setTimeout(() => ws.terminate(), graceMs);
  timer.unref();
  ws.once('close', () => clearTimeout(timer));
}

/** A message as text: the protocol is text, and a binary message is read as UTF-8 JSON too rather than refused. */
export function messageText(data: RawData): string {
  return Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
}

export interface WebSocketEndpoint {
  /** Open sockets and the session each one feeds. */
  readonly sockets: ReadonlyMap<WebSocket, ClientConnection>;
  /**
   * Stops accepting upgrades, runs `drain` (if given) while the sockets are still open, then
   * terminates the sockets still open and closes the ws server.
   */
  close(drain?: () => Promise<void>): Promise<void>;
}

/**
 * Accepts WebSocket upgrades for `path` on `server`. `onConnection` connects a session for each
 * new socket and listens to its messages; the endpoint keeps the socket until it closes, then
 * tells the session.
 */
export function serveWebSocketEndpoint(
  server: Server,
  path: string,
  maxPayload: number,
  onConnection: (ws: WebSocket, meta: ConnectionMeta) => ClientConnection,
): WebSocketEndpoint {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload,
    // Only the JSON protocol is spoken; a client that insists on protobuf gets no subprotocol and fails.
    handleProtocols: () => false,
  });
  // A handshake ws refuses (no key, wrong version, not GET) is answered in the registry's shape, not ws's text/html.
  wss.on('wsClientError', (err: Error, socket: Duplex) => {
    writeRawJsonResponse(socket, 400, new MycelError('MALFORMED_REQUEST', { reason: err.message }).toBody());
  });
  const sockets = new Map<WebSocket, ClientConnection>();

  const accept = (ws: WebSocket, meta: ConnectionMeta): void => {
    const session = onConnection(ws, meta);
    sockets.set(ws, session);
    ws.on('error', () => {
      // ws closes the socket after an error (e.g. a frame over maxPayload → 1009); 'close' follows.
    });
    ws.on('close', () => {
      sockets.delete(ws);
      session.onTransportClosed();
    });
  };
  // The upgrade request is read here and not captured by any closure that lives as long as the
  // socket: closures sharing its scope would keep req and its headers alive (~1.3 KB per connection).
  const unroute = routeUpgrade(
    server,
    path,
    (req, socket, head) => {
      const meta = connectionMeta(req);
      wss.handleUpgrade(req, socket, head, (ws) => accept(ws, meta));
    },
    (socket) => writeRawJsonResponse(socket, 404, new MycelError('ROUTE_NOT_FOUND').toBody()),
  );

  return {
    sockets,
    async close(drain) {
      unroute();
      if (drain) await drain();
      for (const ws of sockets.keys()) ws.terminate();
      sockets.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
