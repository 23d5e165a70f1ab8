import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { routeUpgrade } from './upgrade-router.js';

let server: Server;
let base: string;
const wss = new WebSocketServer({ noServer: true });

before(async () => {
  server = createServer((_req, res) => res.end());
  for (const path of ['/a', '/b']) {
    routeUpgrade(server, path, (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.send(path)));
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  wss.close();
  server.close();
  await once(server, 'close');
});

function firstMessage(path: string): Promise<string> {
  const ws = new WebSocket(base + path);
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => {
      resolve(String(data));
      ws.close();
    });
    ws.once('error', reject);
  });
}

test('each path reaches its own handler, query strings ignored', async () => {
  assert.equal(await firstMessage('/a'), '/a');
  assert.equal(await firstMessage('/b?x=1'), '/b');
});

test('an unknown path is refused with 404 at once, not left hanging', async () => {
  const ws = new WebSocket(`${base}/nope`, { handshakeTimeout: 5000 });
  ws.on('error', () => undefined); // terminate() below makes ws report the aborted handshake
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
  assert.equal(res.statusCode, 404);
  ws.terminate();
});

test('the same path cannot be mounted twice; unrouting frees it', () => {
  assert.throws(() => routeUpgrade(server, '/a', () => undefined), /already mounted/);
  const unroute = routeUpgrade(server, '/c', () => undefined);
  unroute();
  routeUpgrade(server, '/c', () => undefined)();
});
