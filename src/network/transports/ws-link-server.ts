/**
 * The server end of node links over WebSocket: upgrades at GET /api/v1/nodes/link with the
 * session token in `Authorization: Bearer` (never the URL). The token is checked before the
 * upgrade, so a refused client gets an HTTP answer with the error code (401 SESSION_EXPIRED
 * tells it to log in again).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ERROR_CODES, isMycelError, type ErrorCode } from '../../errors.js';
import { writeRawJsonResponse } from '../../lib/raw-http-response.js';
import { routeUpgrade } from '../../lib/upgrade-router.js';
import type { MessagePipe } from '../link.js';
import { webSocketPipe } from './websocket-pipe.js';

export const LINK_PATH = '/api/v1/nodes/link';

export interface LinkAcceptor<P> {
  /** The principal for a bearer token, or a MycelError (UNAUTHENTICATED, SESSION_EXPIRED, FORBIDDEN). */
  authenticate(token: string): Promise<P>;
  /** Takes over an upgraded link. */
  accept(pipe: MessagePipe, principal: P): void;
}

export interface LinkWebSocketHandle {
  /** Stops accepting upgrades and terminates open sockets (close the links first). */
  close(): Promise<void>;
}

function refuse(socket: Duplex, code: ErrorCode, details?: Record<string, unknown>): void {
  writeRawJsonResponse(socket, ERROR_CODES[code].status, { error: { code, message: ERROR_CODES[code].message, ...(details ? { details } : {}) } });
}

/** The bearer token of an upgrade request, or null. */
export function bearerToken(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer[ ]+([^\s]{1,8192})\s*$/i.exec(header);
  return match ? match[1]! : null;
}

export function serveLinkWebSocket<P>(server: Server, maxMessageBytes: number, acceptor: LinkAcceptor<P>): LinkWebSocketHandle {
  // ws itself refuses frames far over the limit; the link refuses anything over it with CHUNK_TOO_LARGE.
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxMessageBytes * 2 + 1024 });
  const unroute = routeUpgrade(server, LINK_PATH, (req, socket, head) => {
    const token = bearerToken(req);
    if (token === null) {
      refuse(socket, 'UNAUTHENTICATED', { reason: 'the upgrade needs `Authorization: Bearer <session token>`' });
      return;
    }
    acceptor.authenticate(token).then(
      (principal) => {
        if (socket.destroyed) return;
        wss.handleUpgrade(req, socket, head, (ws) => acceptor.accept(webSocketPipe(ws), principal));
      },
      (err: unknown) => {
        if (isMycelError(err)) refuse(socket, err.code, err.details);
        else refuse(socket, 'INTERNAL');
      },
    );
  });
  return {
    async close() {
      unroute();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** With WebSocket disabled: the link path answers 404, so clients fall back to SSE. */
export function refuseLinkWebSocket(server: Server): () => void {
  return routeUpgrade(server, LINK_PATH, (_req, socket) => refuse(socket, 'ROUTE_NOT_FOUND', { reason: 'WebSocket is disabled on this node; use SSE' }));
}
