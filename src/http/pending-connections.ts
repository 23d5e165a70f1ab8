/**
 * A bound on connections per client address that are still sending a request. A slow client
 * (headers or body trickled a byte at a time) holds its socket until server.requestTimeoutMs;
 * without a per-address bound one address could hold thousands of them at once. Connections
 * that have sent their request (being answered, streaming SSE/HTTP-streaming, upgraded to a
 * WebSocket) do not count, so many long-lived clients behind one NAT address are not refused.
 *
 * A connection counts from the moment it opens until its first request has been received
 * entirely: at once for a request without a body, when the body ends for one with a body, on
 * upgrade for a WebSocket. A later request on the same keep-alive connection counts again
 * while its body is being received (its headers are bounded by server.headersTimeoutMs alone).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { MycelError } from '../errors.js';
import type { Logger } from '../log.js';
import { writeRawError } from './raw-errors.js';

export interface PendingConnectionLimit {
  /** Connections of `address` that are still sending a request. */
  pending(address: string): number;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Installs the limit on `server`; `max` 0 turns it off (nothing is counted). */
export function limitPendingConnections(server: Server, max: number, log: Logger): PendingConnectionLimit {
  const byAddress = new Map<string, number>();
  // The address of every socket this limit follows, and whether it counts now.
  const followed = new WeakMap<Socket, { address: string; counts: boolean }>();

  const set = (socket: Socket, counts: boolean): void => {
    const state = followed.get(socket);
    if (!state || state.counts === counts) return;
    state.counts = counts;
    const left = (byAddress.get(state.address) ?? 0) + (counts ? 1 : -1);
    if (left <= 0) byAddress.delete(state.address);
    else byAddress.set(state.address, left);
  };

  if (max > 0) {
    // Before the HTTP server's own listener, so the refusal is the first thing written.
    server.prependListener('connection', (socket: Socket) => {
      const address = socket.remoteAddress;
      if (address === undefined) return;
      if ((byAddress.get(address) ?? 0) >= max) {
        const requestId = writeRawError(socket, new MycelError('TOO_MANY_CONNECTIONS', { limit: max }));
        log.info({ reqId: requestId, remoteAddress: address, limit: max }, 'connection refused: too many pending connections from this address');
        return;
      }
      followed.set(socket, { address, counts: false });
      set(socket, true);
      socket.once('close', () => set(socket, false));
    });
    server.on('request', (req: IncomingMessage) => {
      const socket = req.socket;
      if (!hasBody(req) || socket.destroyed) {
        set(socket, false);
        return;
      }
      set(socket, true);
      const done = (): void => set(socket, false);
      req.once('end', done);
      req.once('close', done);
    });
    // An 'upgrade' listener changes how Node treats upgrade requests, so follow upgrades only
    // once something serves them (the WebSocket transports add their listener later).
    let followsUpgrades = false;
    server.on('newListener', (event: string | symbol) => {
      if (event !== 'upgrade' || followsUpgrades) return;
      followsUpgrades = true;
      server.prependListener('upgrade', (_req: IncomingMessage, socket: Socket) => set(socket, false));
    });
  }

  return { pending: (address) => byAddress.get(address) ?? 0 };
}
