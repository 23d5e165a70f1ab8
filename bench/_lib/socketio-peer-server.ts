/**
 * Peer: Socket.IO 4.8 with its default server setup (in-memory adapter, no compression).
 * A client authenticates with `auth: { token }` (HS256 JWT, BENCH_API_KEY, verified once in a
 * middleware), emits `sub(room, ack)` to join a room and `pub(room, data)` to broadcast
 * `m(data)` to the room — `io.to(room).emit`, Socket.IO's room broadcast.
 */
import { createServer } from 'node:http';
import { jwtVerify } from 'jose';
import { Server } from 'socket.io';
import { emit } from './ipc.js';
import { installServerControl } from './control.js';

const key = new TextEncoder().encode(process.env.BENCH_API_KEY ?? '');
const http = createServer();
const io = new Server(http);

io.use((socket, next) => {
  const token = (socket.handshake.auth as { token?: unknown }).token;
  jwtVerify(typeof token === 'string' ? token : '', key, { algorithms: ['HS256'] }).then(
    ({ payload }) => {
      socket.data.user = String(payload.sub ?? '');
      next();
    },
    () => next(new Error('unauthorized')),
  );
});

io.on('connection', (socket) => {
  socket.on('sub', (room: unknown, ack: unknown) => {
    if (typeof room !== 'string') return;
    void socket.join(room);
    if (typeof ack === 'function') (ack as () => void)();
  });
  socket.on('pub', (room: unknown, data: unknown) => {
    if (typeof room === 'string') io.to(room).emit('m', data);
  });
});

installServerControl();
process.once('SIGTERM', () => process.exit(0));
http.listen(0, '127.0.0.1', () => {
  emit('listening', { url: `http://127.0.0.1:${(http.address() as { port: number }).port}` });
});
