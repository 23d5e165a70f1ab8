import type { IncomingMessage } from 'node:http';
import type { ConnectionMeta } from '../transport.js';

/** What the server knows about the request that opened a connection (any transport). */
export function connectionMeta(req: IncomingMessage): ConnectionMeta {
  const meta: ConnectionMeta = {};
  if (req.socket.remoteAddress) meta.remoteAddress = req.socket.remoteAddress;
  const ua = req.headers['user-agent'];
  if (ua) meta.userAgent = ua;
  return meta;
}
