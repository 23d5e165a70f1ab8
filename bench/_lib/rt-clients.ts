/**
 * The clients the realtime benchmarks drive, one interface for all three servers:
 * - Mycel: the real `centrifuge` npm client (with `ws`), or `raw`, a bare `ws` socket that sends
 *   the same protocol frames (connect + subscribe in one frame, pong on ping) for when thousands
 *   of centrifuge clients in one process would measure the client more than the server;
 * - Socket.IO: `socket.io-client` with transports ['websocket'];
 * - ws: a bare `ws` socket with the peer's tiny JSON protocol (ws-peer-server.ts).
 * Every client authenticates with an HS256 JWT (sub = user) signed with the benchmark's key.
 */
import { Centrifuge } from 'centrifuge';
import { SignJWT } from 'jose';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import type { ServerKind } from './servers.js';

export type MycelClientKind = 'centrifuge' | 'raw';

/** What a publisher sends and a subscriber receives as `data`. */
export interface Payload {
  /** Send time, `performance.timeOrigin + performance.now()` in ms. */
  t: number;
  /** Sequence number of the publication within a run. */
  s: number;
  /** Padding up to the payload size. */
  p: string;
}

export interface Connection {
  /** Closes without waiting; no reconnects. */
  close(): void;
  /** Times the connection dropped after it was established (must stay 0). */
  readonly drops: number;
}

export interface Publisher extends Connection {
  publish(channel: string, data: Payload): void;
  /** Publish errors the server answered (Mycel) so far. */
  readonly errors: number;
}

export interface ConnectTarget {
  kind: ServerKind;
  url: string;
  mycelClient: MycelClientKind;
  timeoutMs: number;
}

export function signToken(apiKey: string, user: string): Promise<string> {
  return new SignJWT({ sub: user }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(apiKey));
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

/** Connects and subscribes one client to `channel`; `onData` gets each publication's data. */
export async function connectSubscriber(target: ConnectTarget, token: string, channel: string, onData: (data: Payload) => void): Promise<Connection> {
  switch (target.kind) {
    case 'mycel':
      return target.mycelClient === 'centrifuge' ? centrifugeSubscriber(target, token, channel, onData) : rawMycelSubscriber(target, token, channel, onData);
    case 'socketio':
      return socketIoClient(target, token, channel, onData);
    case 'ws':
      return wsPeerClient(target, token, channel, onData);
  }
}

/** Connects a publisher (no subscription). Mycel's is always the real centrifuge client. */
export async function connectPublisher(target: ConnectTarget, token: string): Promise<Publisher> {
  switch (target.kind) {
    case 'mycel':
      return centrifugePublisher(target, token);
    case 'socketio': {
      const c = await socketIoClient(target, token, null, () => {});
      return {
        errors: 0,
        publish: (channel, data) => c.socket.emit('pub', channel, data),
        close: c.close,
        get drops() { return c.drops; },
      };
    }
    case 'ws': {
      const c = await wsPeerClient(target, token, null, () => {});
      return {
        errors: 0,
        publish: (channel, data) => c.ws.send(JSON.stringify({ pub: channel, data })),
        close: c.close,
        get drops() { return c.drops; },
      };
    }
  }
}

function newCentrifuge(target: ConnectTarget, token: string): Centrifuge {
  return new Centrifuge(target.url, { websocket: WebSocket, token, timeout: target.timeoutMs, name: 'bench' });
}

async function centrifugeSubscriber(target: ConnectTarget, token: string, channel: string, onData: (d: Payload) => void): Promise<Connection> {
  const c = newCentrifuge(target, token);
  let drops = 0;
  let up = false;
  c.on('error', () => {});
  c.on('connecting', () => {
    if (up) drops++;
  });
  const sub = c.newSubscription(channel);
  sub.on('publication', (ctx) => onData(ctx.data as Payload));
  sub.on('error', () => {});
  const subscribed = new Promise<void>((resolve, reject) => {
    sub.once('subscribed', () => resolve());
    sub.once('unsubscribed', (ctx) => reject(new Error(`unsubscribed ${ctx.code} ${ctx.reason}`)));
    c.once('disconnected', (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`)));
  });
  sub.subscribe();
  c.connect();
  try {
    await timeout(subscribed, target.timeoutMs, 'centrifuge subscribe');
  } catch (err) {
    c.disconnect();
    throw err;
  }
  up = true;
  return { close: () => c.disconnect(), get drops() { return drops; } };
}

async function centrifugePublisher(target: ConnectTarget, token: string): Promise<Publisher> {
  const c = newCentrifuge(target, token);
  let drops = 0;
  let errors = 0;
  let up = false;
  c.on('error', () => {});
  c.on('connecting', () => {
    if (up) drops++;
  });
  const connected = new Promise<void>((resolve, reject) => {
    c.once('connected', () => resolve());
    c.once('disconnected', (ctx) => reject(new Error(`disconnected ${ctx.code} ${ctx.reason}`)));
  });
  c.connect();
  await timeout(connected, target.timeoutMs, 'centrifuge connect');
  up = true;
  return {
    publish: (channel, data) => {
      c.publish(channel, data).catch(() => errors++);
    },
    close: () => c.disconnect(),
    get drops() { return drops; },
    get errors() { return errors; },
  };
}

async function rawMycelSubscriber(target: ConnectTarget, token: string, channel: string, onData: (d: Payload) => void): Promise<Connection> {
  const ws = new WebSocket(target.url, { perMessageDeflate: false });
  let drops = 0;
  let up = false;
  let closing = false;
  const ready = new Promise<void>((resolve, reject) => {
    ws.on('open', () => {
      // What centrifuge sends: connect and the queued subscribe in one frame.
      ws.send(`${JSON.stringify({ id: 1, connect: { token, name: 'bench' } })}\n${JSON.stringify({ id: 2, subscribe: { channel } })}`);
    });
    ws.on('message', (raw: Buffer) => {
      const text = raw.toString('utf8');
      for (const line of text.split('\n')) {
        if (line === '') continue;
        if (line === '{}') {
          ws.send('{}'); // pong
          continue;
        }
        const msg = JSON.parse(line) as { id?: number; error?: { code: number; message: string }; push?: { pub?: { data: Payload } } };
        if (msg.push?.pub) onData(msg.push.pub.data);
        else if (msg.id !== undefined && msg.error) reject(new Error(`reply ${msg.id}: error ${msg.error.code} ${msg.error.message}`));
        else if (msg.id === 2) resolve();
      }
    });
    ws.on('error', reject);
    ws.on('close', (code, reason) => {
      if (up && !closing) drops++;
      reject(new Error(`closed ${code} ${reason.toString()}`));
    });
  });
  try {
    await timeout(ready, target.timeoutMs, 'raw mycel subscribe');
  } catch (err) {
    ws.terminate();
    throw err;
  }
  up = true;
  return {
    close: () => {
      closing = true;
      ws.terminate();
    },
    get drops() { return drops; },
  };
}

async function socketIoClient(target: ConnectTarget, token: string, channel: string | null, onData: (d: Payload) => void): Promise<Connection & { socket: Socket }> {
  // forceNew: one engine.io connection per client (otherwise io() multiplexes them on one Manager).
  const socket = io(target.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token } });
  let drops = 0;
  let up = false;
  let closing = false;
  socket.on('m', onData);
  socket.on('disconnect', () => {
    if (up && !closing) drops++;
  });
  const ready = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      if (channel === null) resolve();
      else socket.emit('sub', channel, () => resolve());
    });
    socket.once('connect_error', reject);
  });
  try {
    await timeout(ready, target.timeoutMs, 'socket.io subscribe');
  } catch (err) {
    socket.close();
    throw err;
  }
  up = true;
  return {
    socket,
    close: () => {
      closing = true;
      socket.close();
    },
    get drops() { return drops; },
  };
}

async function wsPeerClient(target: ConnectTarget, token: string, channel: string | null, onData: (d: Payload) => void): Promise<Connection & { ws: WebSocket }> {
  const ws = new WebSocket(`${target.url}/?token=${encodeURIComponent(token)}`, { perMessageDeflate: false });
  let drops = 0;
  let up = false;
  let closing = false;
  const ready = new Promise<void>((resolve, reject) => {
    ws.on('open', () => {
      if (channel === null) resolve();
      else ws.send(JSON.stringify({ sub: channel }));
    });
    ws.on('message', (raw: Buffer) => {
      const msg = JSON.parse(raw.toString('utf8')) as { data?: Payload; subscribed?: string };
      if (msg.data) onData(msg.data);
      else if (msg.subscribed === channel) resolve();
    });
    ws.on('error', reject);
    ws.on('close', (code) => {
      if (up && !closing) drops++;
      reject(new Error(`closed ${code}`));
    });
  });
  try {
    await timeout(ready, target.timeoutMs, 'ws subscribe');
  } catch (err) {
    ws.terminate();
    throw err;
  }
  up = true;
  return {
    ws,
    close: () => {
      closing = true;
      ws.terminate();
    },
    get drops() { return drops; },
  };
}

/** Runs `fn` over `items` with at most `concurrency` at once; rejects on the first failure. */
export async function mapBounded<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}
