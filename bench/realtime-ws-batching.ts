/**
 * Does write batching in the WebSocket transport pay? One server process, clients in a child
 * process. Each round publishes a burst of publications in one tick to a channel with N
 * subscribers; with batching, the frames a socket gets in one tick go out as one WebSocket
 * message. Prints server CPU time per delivery with and without batching, and the ratio.
 *
 *   npm run bench -- realtime-ws-batching [clients=100] [burst=20] [rounds=50]
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import WebSocket from 'ws';
import { configSchema } from '../src/config/schema.js';
import { MemoryBus } from '../src/realtime/memory/memory-bus.js';
import { MemoryHistoryStore } from '../src/realtime/memory/memory-history-store.js';
import { MemoryPresenceStore } from '../src/realtime/memory/memory-presence-store.js';
import { RealtimeNode } from '../src/realtime/realtime-node.js';
import { attachWebSocket } from '../src/realtime/transports/websocket.js';

const CHANNEL = 'bench:room';

async function clientMain(url: string, clients: number): Promise<void> {
  let received = 0;
  let ready = 0;
  for (let i = 0; i < clients; i++) {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      ws.send(`${JSON.stringify({ id: 1, connect: {} })}\n${JSON.stringify({ id: 2, subscribe: { channel: CHANNEL } })}`);
    });
    ws.on('message', (data) => {
      const text = (data as Buffer).toString();
      let from = 0;
      for (;;) {
        const at = text.indexOf('"pub":', from);
        if (at === -1) break;
        received++;
        from = at + 6;
      }
      if (text.includes('"id":2')) {
        ready++;
        if (ready === clients) process.send!({ ready: true });
      }
    });
  }
  setInterval(() => process.send!({ received }), 20).unref();
  process.on('message', (m: { exit?: boolean }) => {
    if (m.exit) process.exit(0);
  });
}

async function measure(batch: boolean, clients: number, burst: number, rounds: number): Promise<{ cpuUs: number; wallMs: number; deliveries: number }> {
  const config = configSchema.parse({
    realtime: {
      allowAnonymous: true,
      maxCommandsPerSecond: 100_000,
      namespaces: { bench: { subscribe: 'anonymous', historySize: 0, presenceEnabled: false } },
    },
  }).realtime;
  const bus = new MemoryBus();
  const node = new RealtimeNode({
    config,
    bus,
    history: new MemoryHistoryStore(bus),
    presence: new MemoryPresenceStore(),
    log: pino({ level: 'silent' }),
  });
  const http = createServer();
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;
  const ws = attachWebSocket(http, node, { batch });
  const child = fork(fileURLToPath(import.meta.url), ['--client', `ws://127.0.0.1:${port}/connection/websocket`, String(clients)], {
    execArgv: ['--import', 'tsx'],
  });
  let received = 0;
  let onUpdate: () => void = () => {};
  await new Promise<void>((resolve) => {
    child.on('message', (m: { ready?: boolean; received?: number }) => {
      if (m.ready) resolve();
      if (m.received !== undefined) {
        received = m.received;
        onUpdate();
      }
    });
  });
  const payload = { text: 'x'.repeat(100) };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < burst; i++) void node.publish(CHANNEL, payload);
    const expected = (r + 1) * burst * clients;
    await new Promise<void>((resolve) => {
      onUpdate = () => {
        if (received >= expected) resolve();
      };
      onUpdate();
    });
  }
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  child.send({ exit: true });
  await node.shutdown(1000);
  await ws.close();
  http.closeAllConnections();
  await new Promise<void>((r) => http.close(() => r()));
  await bus.close();
  return { cpuUs: cpu.user + cpu.system, wallMs, deliveries: rounds * burst * clients };
}

if (process.argv[2] === '--client') {
  void clientMain(process.argv[3]!, Number(process.argv[4]));
} else {
  const [clients = 100, burst = 20, rounds = 50] = process.argv.slice(2).map(Number);
  const off = await measure(false, clients, burst, rounds);
  const on = await measure(true, clients, burst, rounds);
  const per = (m: typeof on) => m.cpuUs / m.deliveries;
  console.log(`clients=${clients} burst=${burst} rounds=${rounds} deliveries=${on.deliveries}`);
  console.log(`name                      batched   unbatched  ratio`);
  console.log(`server CPU µs/delivery   ${per(on).toFixed(3).padStart(8)}  ${per(off).toFixed(3).padStart(9)}  ${(per(on) / per(off)).toFixed(2)}`);
  console.log(`wall ms                  ${on.wallMs.toFixed(0).padStart(8)}  ${off.wallMs.toFixed(0).padStart(9)}  ${(on.wallMs / off.wallMs).toFixed(2)}`);
}
