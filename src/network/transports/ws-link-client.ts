/** The client end of a node link over WebSocket (the `ws` package). */
import WebSocket from 'ws';
import type { MessagePipe } from '../link.js';
import { LINK_PATH } from './ws-link-server.js';
import { webSocketPipe } from './websocket-pipe.js';
import { TransportRefused, refusalOf } from './transport-refused.js';

/** ws:// or wss:// for the server's http(s) base URL. */
export function linkWebSocketUrl(baseUrl: string): string {
  const url = new URL(LINK_PATH, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/**
 * Opens the link's WebSocket with the session token. Rejects with TransportRefused when the
 * server answers the upgrade with an HTTP error (its status and error code), or with the
 * socket error when it cannot be reached.
 */
export function openWebSocketPipe(baseUrl: string, token: string, maxMessageBytes: number, timeoutMs = 10_000): Promise<MessagePipe> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(linkWebSocketUrl(baseUrl), {
      headers: { authorization: `Bearer ${token}` },
      maxPayload: maxMessageBytes * 2 + 1024,
      handshakeTimeout: timeoutMs,
      perMessageDeflate: false,
    });
    let settled = false;
    ws.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 64 * 1024) chunks.push(chunk);
      });
      res.once('end', () => {
        settled = true;
        reject(refusalOf(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        req.destroy();
      });
      res.once('error', () => {
        settled = true;
        reject(new TransportRefused(res.statusCode ?? 0, 'NETWORK_SERVER_UNREACHABLE', 'the upgrade answer was cut'));
        req.destroy();
      });
    });
    ws.once('open', () => {
      settled = true;
      resolve(webSocketPipe(ws));
    });
    ws.once('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
  });
}
