/**
 * Bad input on node links, each refused with its code and shown in status: a fake parent
 * speaking the protocol (with `ws`) sends a tampered change, changes out of order, an oversized
 * message, a change of an unknown type or version, another protocol version; a fake client
 * (against a real node) says hello with another node id, pulls from a cursor the node does not
 * have, sends a malformed message. The changes the fake parent serves are real ones, read from
 * the log of a scratch node.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { OWNER } from '../../src/domain/actor.js';
import { changeHash } from '../../src/domain/changelog.js';
import type { Change } from '../../src/model/content.js';
import { NODE_PASSWORD, register, serverStatus, startTestNode, until, type TestNode } from '../helpers/network.js';

/** A fake parent: logs anyone in, answers hello, then plays `script` on each pull it receives. */
interface FakeParent {
  url: string;
  /** Messages received from the child, parsed. */
  received: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

type Script = (send: (message: unknown) => void, pull: Record<string, unknown>, pullIndex: number) => void;

async function fakeParent(profile: { id: string; name: string; createdAt: number }, script: Script, helloVersion = 1): Promise<FakeParent> {
  const received: Array<Record<string, unknown>> = [];
  const server: Server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/api/v1/nodes/session') {
      req.resume();
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: 'fake-token', expiresAt: Date.now() + 3_600_000 }));
      return;
    }
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      let pulls = 0;
      ws.on('message', (data) => {
        const message = JSON.parse(String(data)) as Record<string, unknown>;
        received.push(message);
        const send = (m: unknown): void => ws.send(typeof m === 'string' ? m : JSON.stringify(m));
        if (message.t === 'hello') send({ t: 'hello', v: helloVersion, node: profile, wants: { pull: false, serve: true } });
        if (message.t === 'pull') script(send, message, pulls++);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const nodes: TestNode[] = [];
const fakes: FakeParent[] = [];
let source: TestNode;
let log: Change[];
let profile: { id: string; name: string; createdAt: number };

before(async () => {
  // A real log to serve: a channel and a few posts of a scratch node.
  source = await startTestNode('bad-input-source');
  nodes.push(source);
  const ch = await source.node.core.operator.createChannel(OWNER, { name: 'notes:real' });
  for (let i = 0; i < 4; i++) await source.node.core.operator.createPost(OWNER, { channelId: ch.id, body: `post ${i}` });
  log = await source.node.core.storage.getChanges(1, 100);
  const n = source.node.core.node;
  profile = { id: n.id, name: n.name, createdAt: n.createdAt };
});

after(async () => {
  for (const f of fakes) await f.close();
  for (const n of nodes.reverse()) await n.close();
});

/** A child connected to a fake parent that plays `script`. */
async function childOf(name: string, script: Script, options: { helloVersion?: number; maxMessageBytes?: number } = {}): Promise<{ child: TestNode; fake: FakeParent }> {
  const fake = await fakeParent(profile, script, options.helloVersion);
  fakes.push(fake);
  const child = await startTestNode(name, options.maxMessageBytes ? { network: { maxMessageBytes: options.maxMessageBytes } } : {});
  nodes.push(child);
  await child.node.network.addServer({ url: fake.url, password: NODE_PASSWORD, role: 'child', transport: 'websocket' });
  return { child, fake };
}

function stoppedWith(child: TestNode, code: string) {
  return until(`status ${code}`, () => {
    const s = serverStatus(child.node);
    return s.lastError?.code === code ? s : undefined;
  });
}

async function errorsMetric(child: TestNode, code: string): Promise<number> {
  const text = await child.node.app.inject({ method: 'GET', url: '/metrics' }).then((r) => r.body);
  const line = text.split('\n').find((l) => l.startsWith('mycel_replication_errors_total') && l.includes(`code="${code}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('bad input from a parent', { timeout: 90_000 }, () => {
  it('a tampered change (hash mismatch) stops replication from that server: nothing of the chunk is imported', async () => {
    const tampered = log.map((c) => (c.serial === 3 ? { ...c, payload: { ...c.payload, post: { ...(c.payload.post as object), body: 'forged' } } } : c));
    const { child, fake } = await childOf('tampered', (send) => send({ t: 'changes', changes: tampered, head: log.length }));
    const status = await stoppedWith(child, 'REPLICATION_HASH_MISMATCH');
    await until('stopped', () => (serverStatus(child.node).state === 'stopped' ? true : undefined));
    assert.equal(status.importedTotal, 0);
    assert.equal(await child.node.core.storage.countChanges(), 0);
    await until('the error to reach the fake parent', () => (fake.received.some((m) => m.t === 'error' && m.code === 'REPLICATION_HASH_MISMATCH') ? true : undefined));
    assert.ok((await errorsMetric(child, 'REPLICATION_HASH_MISMATCH')) >= 1);
  });

  it('changes out of order (a gap) are refused with REPLICATION_GAP and pulled again from the cursor', async () => {
    const { child, fake } = await childOf('gap', (send, _pull, i) => {
      // First answer skips serial 1; the answer to the repair pull is right.
      send({ t: 'changes', changes: i === 0 ? log.slice(1) : log, head: log.length });
    });
    await until('the whole log', async () => ((await child.node.core.storage.countChanges()) === log.length ? true : undefined));
    const pulls = fake.received.filter((m) => m.t === 'pull');
    assert.equal(pulls.length, 2);
    assert.deepEqual((pulls[1] as { after: unknown }).after, (pulls[0] as { after: unknown }).after);
    const status = serverStatus(child.node);
    assert.equal(status.lastError?.code, 'REPLICATION_GAP');
    assert.equal(status.state, 'connected');
    assert.equal(status.cursor, log.length);
  });

  it('a message over network.maxMessageBytes is refused with CHUNK_TOO_LARGE', async () => {
    const big = 'x'.repeat(70 * 1024);
    const { child, fake } = await childOf('oversized', (send) => send({ t: 'changes', changes: [{ ...log[0]!, payload: { pad: big } }], head: 1 }), { maxMessageBytes: 64 * 1024 });
    await stoppedWith(child, 'CHUNK_TOO_LARGE');
    await until('the error to reach the fake parent', () => (fake.received.some((m) => m.t === 'error' && m.code === 'CHUNK_TOO_LARGE') ? true : undefined));
    assert.equal(await child.node.core.storage.countChanges(), 0);
  });

  it('a change of an unknown type, or of an unknown payload version, is CHANGE_UNSUPPORTED and stops replication', async () => {
    for (const [name, edit] of [
      ['unknown-type', { type: 'widget.created' }],
      ['unknown-version', { payloadVersion: 99 }],
    ] as const) {
      const first = log[0]!;
      const unsealed = { ...first, ...edit };
      const change = { ...unsealed, hash: changeHash(first.prevHash, unsealed as unknown as Change) };
      const { child } = await childOf(name, (send) => send({ t: 'changes', changes: [change], head: 1 }));
      await stoppedWith(child, 'CHANGE_UNSUPPORTED');
      await until('stopped', () => (serverStatus(child.node).state === 'stopped' ? true : undefined));
      assert.equal(await child.node.core.storage.countChanges(), 0);
    }
  });

  it('a malformed message and another protocol version are BAD_MESSAGE', async () => {
    const { child } = await childOf('malformed', (send) => send('{"t":"changes","changes":"nope"}'));
    await stoppedWith(child, 'BAD_MESSAGE');
    const { child: other } = await childOf('version', () => {}, { helloVersion: 2 });
    const status = await stoppedWith(other, 'BAD_MESSAGE');
    assert.notEqual(status.state, 'connected');
  });
});

describe('bad input from a client', { timeout: 60_000 }, () => {
  let server: TestNode;
  let clientId: string;
  let token: string;
  before(async () => {
    server = await startTestNode('strict-server');
    nodes.push(server);
    const client = await startTestNode('strict-client');
    nodes.push(client);
    clientId = client.node.core.node.id;
    await register(server.node, client.node, 'child');
    const res = await fetch(`${server.node.url}/api/v1/nodes/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nodeId: clientId, password: NODE_PASSWORD }) });
    token = ((await res.json()) as { token: string }).token;
  });

  /** Opens a link as the registered client, sends `messages`, resolves with the server's error message. */
  async function errorFor(messages: unknown[]): Promise<Record<string, unknown>> {
    const ws = new WebSocket(`${server.node.url.replace('http', 'ws')}/api/v1/nodes/link`, { headers: { authorization: `Bearer ${token}` } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const got = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no error message')), 10_000);
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as Record<string, unknown>;
        if (m.t === 'error') {
          clearTimeout(timer);
          resolve(m);
        }
      });
    });
    for (const m of messages) ws.send(typeof m === 'string' ? m : JSON.stringify(m));
    const error = await got;
    await new Promise((resolve) => (ws.readyState === ws.CLOSED ? resolve(null) : ws.once('close', resolve)));
    return error;
  }

  const hello = (id: string) => ({ t: 'hello', v: 1, node: { id, name: 'x', createdAt: 1 }, wants: { pull: true, serve: false } });

  it('a hello with another node id than the session\'s is NODE_ID_MISMATCH, shown in status', async () => {
    const error = await errorFor([hello('0190aaaa-0000-7000-8000-000000000000')]);
    assert.equal(error.code, 'NODE_ID_MISMATCH');
    assert.ok(server.node.network.status().clients.some((c) => c.lastError?.code === 'NODE_ID_MISMATCH' && c.peerNodeId === clientId));
  });

  it('a pull from a cursor this node does not hold is CURSOR_UNKNOWN', async () => {
    const error = await errorFor([hello(clientId), { t: 'pull', after: { serial: 5, hash: 'a'.repeat(64) }, credit: 4 }]);
    assert.equal(error.code, 'CURSOR_UNKNOWN');
  });

  it('a message before hello, or not JSON, is BAD_MESSAGE', async () => {
    assert.equal((await errorFor([{ t: 'credit', n: 1 }])).code, 'BAD_MESSAGE');
    assert.equal((await errorFor(['not json'])).code, 'BAD_MESSAGE');
  });

  it('an upgrade without a session, or with a bad one, is refused over HTTP with its code', async () => {
    for (const [headers, code] of [
      [{}, 'UNAUTHENTICATED'],
      [{ authorization: 'Bearer nobody-issued-this' }, 'UNAUTHENTICATED'],
    ] as const) {
      const ws = new WebSocket(`${server.node.url.replace('http', 'ws')}/api/v1/nodes/link`, { headers });
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        ws.once('open', () => reject(new Error('upgraded')));
        ws.once('error', () => {});
      });
      assert.equal(answer.status, 401);
      assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, code);
    }
  });
});
