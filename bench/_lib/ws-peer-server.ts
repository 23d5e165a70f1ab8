/**
 * Peer: a bare `ws` broadcast loop — Node's practical limit for fan-out. A client connects
 * with `?token=<JWT>` (HS256, BENCH_API_KEY; verified once, like the others), sends
 * `{"sub":"<channel>"}` (answered `{"subscribed":"<channel>"}`) and `{"pub":"<channel>","data":…}`;
 * a publish writes the received bytes, unchanged, to every socket subscribed to that channel
 * (one Buffer shared by all, as in the ws README's broadcast example).
 */
import { createServer } from 'node:http';
import { jwtVerify } from 'jose';
import { WebSocketServer, type WebSocket } from 'ws';
import { emit } from './ipc.js';
import { installServerControl } from './control.js';

const key = new TextEncoder().encode(process.env.BENCH_API_KEY ?? '');
const channels = new Map<string, Set<WebSocket>>();

const http = createServer((_req, res) => {
  res.statusCode = 404;
  res.end();
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

http.on('upgrade', (req, socket, head) => {
  const token = new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '';
  jwtVerify(token, key, { algorithms: ['HS256'] }).then(
    ({ payload }) => wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, String(payload.sub ?? ''))),
    () => socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'),
  );
});

function onConnection(ws: WebSocket, user: string): void {
  // The user id is kept per connection, as the other servers keep theirs.
  const conn = { user, subs: [] as string[] };
  ws.on('message', (data: Buffer) => {
    let msg: { sub?: string; pub?: string };
    try {
      msg = JSON.parse(data.toString('utf8')) as { sub?: string; pub?: string };
    } catch {
      ws.close(1003, 'bad json');
      return;
    }
    if (typeof msg.pub === 'string') {
      const set = channels.get(msg.pub);
      if (set) for (const s of set) s.send(data, { binary: false });
    } else if (typeof msg.sub === 'string') {
      let set = channels.get(msg.sub);
      if (!set) channels.set(msg.sub, (set = new Set()));
      set.add(ws);
      conn.subs.push(msg.sub);
      ws.send(JSON.stringify({ subscribed: msg.sub }));
    }
  });
  ws.on('error', () => ws.terminate());
  ws.on('close', () => {
    for (const ch of conn.subs) {
      const set = channels.get(ch);
      set?.delete(ws);
      if (set?.size === 0) channels.delete(ch);
    }
  });
}

installServerControl();
process.once('SIGTERM', () => process.exit(0));
http.listen(0, '127.0.0.1', () => {
  emit('listening', { url: `ws://127.0.0.1:${(http.address() as { port: number }).port}` });
});
