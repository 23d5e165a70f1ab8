/**
 * A client process of bench/idle-connections: opens its share of authenticated connections,
 * each with one subscription, and keeps them idle (answering server pings) until told to close.
 */
import { serveIpc } from './ipc.js';
import { connectSubscriber, mapBounded, signToken, type ConnectTarget, type Connection } from './rt-clients.js';

export interface IdleSetup {
  target: ConnectTarget;
  apiKey: string;
  conns: Array<{ channel: string; user: string }>;
  concurrency: number;
}

let open: Connection[] = [];

async function connectAll(body: IdleSetup): Promise<Connection[]> {
  const tokens = await Promise.all(body.conns.map((c) => signToken(body.apiKey, c.user)));
  return mapBounded(body.conns, body.concurrency, (c, i) =>
    connectSubscriber(body.target, tokens[i]!, c.channel, () => {
      throw new Error('an idle connection received a publication');
    }),
  );
}

serveIpc({
  /** Opens and closes connections once, so lazily built server state is in the baseline. */
  warm: async (body: IdleSetup) => {
    const conns = await connectAll(body);
    for (const c of conns) c.close();
    return { warmed: conns.length };
  },
  open: async (body: IdleSetup) => {
    const t0 = performance.now();
    open = await connectAll(body);
    return { opened: open.length, ms: performance.now() - t0 };
  },
  status: () => ({ open: open.length, drops: open.reduce((a, c) => a + c.drops, 0) }),
  close: () => {
    for (const c of open) c.close();
    open = [];
    return new Promise((r) => setTimeout(r, 200));
  },
});
