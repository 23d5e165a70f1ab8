/**
 * A node link over one WebSocket (either end): one text frame per message, ws ping/pong to
 * find a peer that went away without closing.
 */
import type { RawData, WebSocket } from 'ws';
import type { MessagePipe } from '../link.js';

/** How often each end pings; a peer that has not answered the previous ping by then is cut. */
export const KEEPALIVE_MS = 15_000;

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export function webSocketPipe(ws: WebSocket, keepaliveMs: number = KEEPALIVE_MS): MessagePipe {
  let started = false;
  return {
    transport: 'websocket',
    get bufferedBytes() {
      return ws.bufferedAmount;
    },
    send(message) {
      if (ws.readyState === ws.OPEN) ws.send(message, { binary: false });
    },
    close() {
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
        ws.close(1000);
        // A peer that does not answer the close frame does not keep the socket.
        const timer = setTimeout(() => ws.terminate(), 3000);
        timer.unref();
        ws.once('close', () => clearTimeout(timer));
      }
    },
    start(events) {
      if (started) throw new Error('pipe started twice');
      started = true;
      let alive = true;
      const timer = setInterval(() => {
        if (!alive) {
          ws.terminate();
          return;
        }
        alive = false;
        if (ws.readyState === ws.OPEN) ws.ping();
      }, keepaliveMs);
      timer.unref();
      ws.on('pong', () => {
        alive = true;
      });
      ws.on('ping', () => {
        alive = true;
      });
      ws.on('message', (data, isBinary) => {
        alive = true;
        events.onText(isBinary ? text(data) : text(data));
      });
      ws.on('error', () => {
        // 'close' follows; the reason is given there.
      });
      ws.once('close', (code, reason) => {
        clearInterval(timer);
        const text = `websocket closed (${code}${reason.length > 0 ? ` ${reason.toString('utf8')}` : ''})`;
        // 1009: ws refused a frame far over network.maxMessageBytes before the link could read it.
        events.onClosed(text, code === 1009 ? 'CHUNK_TOO_LARGE' : undefined);
      });
      if (ws.readyState === ws.CLOSED) {
        clearInterval(timer);
        events.onClosed('websocket closed');
      }
    },
  };
}
