// The node network managed at run time, on real processes: a child node is told to connect to
// a parent over REST (`mycel --node CHILD nodes connect PARENT`), both show the link in
// `nodes status` (REST and CLI, remote and local), the parent's content arrives at the child,
// and `nodes disconnect` ends the link and forgets the entry.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { NetworkStatus } from '../../src/network/network-service.js';
import { runMycel, startMycel, type CliResult, type ServingNode } from '../helpers/process.js';

const OWNER_PASSWORD = 'network-admin-owner-pw';
const CHILD_PASSWORD = 'network-admin-child-pw';
const SERVE_ENV = { MYCEL_LOGIN_ATTEMPTS_PER_MINUTE: '10000' };

const root = mkdtempSync(join(tmpdir(), 'mycel-network-admin-'));
const running: ServingNode[] = [];
after(async () => {
  await Promise.all(running.map((n) => n.stop()));
  rmSync(root, { recursive: true, force: true });
});

function ok(res: CliResult, what: string): string {
  assert.equal(res.code, 0, `${what}: exit ${res.code}\n${res.stderr}`);
  assert.ok(!`${res.stdout}${res.stderr}`.includes(CHILD_PASSWORD) && !`${res.stdout}${res.stderr}`.includes(OWNER_PASSWORD), `${what}: a password shows`);
  return res.stdout;
}

async function serveNew(name: string): Promise<{ node: ServingNode; id: string; dir: string }> {
  const dir = join(root, name);
  ok(await runMycel(['init', '--node-name', name], { MYCEL_DATA_DIR: dir, MYCEL_OWNER_PASSWORD: OWNER_PASSWORD }), `init ${name}`);
  const id = (JSON.parse(ok(await runMycel(['info', '--json'], { MYCEL_DATA_DIR: dir }), `info ${name}`)) as { nodeId: string }).nodeId;
  const node = await startMycel({ MYCEL_DATA_DIR: dir, ...SERVE_ENV });
  running.push(node);
  return { node, id, dir };
}

async function ownerToken(url: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: OWNER_PASSWORD }) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { token: string }).token;
}

async function getJson<T>(url: string, token: string): Promise<T> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `${url}: ${res.status}`);
  return (await res.json()) as T;
}

/** Polls `read` until `done` holds (bounded), answering the last value. */
async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) assert.fail(`${what} not reached in ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
    value = await read();
  }
  return value;
}

test('connect a child to a parent at run time over REST, see the link on both sides, converge, disconnect', async () => {
  const [parent, child] = await Promise.all([serveNew('parent'), serveNew('child')]);
  const asOwner = { MYCEL_OWNER_PASSWORD: OWNER_PASSWORD };
  // The parent registers the child (remotely), then has content before the child connects.
  ok(await runMycel(['--node', parent.node.url, 'nodes', 'add', child.id, '--password-stdin'], asOwner, 30_000, `${CHILD_PASSWORD}\n`), 'register the child');
  ok(await runMycel(['--node', parent.node.url, 'channels', 'create', 'lab:shared'], asOwner), 'channel at the parent');
  ok(await runMycel(['--node', parent.node.url, 'posts', 'create', 'lab:shared', 'before the link'], asOwner), 'post at the parent');

  const connected = await runMycel(['--node', child.node.url, 'nodes', 'connect', parent.node.url, '--password-env', 'PARENT_PASSWORD', '--json'], { ...asOwner, PARENT_PASSWORD: CHILD_PASSWORD });
  const entry = JSON.parse(ok(connected, 'nodes connect')) as { id: string; url: string; role: string; source: string };
  assert.deepEqual([entry.url, entry.role, entry.source], [parent.node.url, 'child', 'runtime']);

  const [childToken, parentToken] = await Promise.all([ownerToken(child.node.url), ownerToken(parent.node.url)]);
  const childStatus = await until(
    'the child connected to the parent',
    () => getJson<NetworkStatus>(`${child.node.url}/api/v1/network/status`, childToken),
    (s) => s.servers.some((l) => l.id === entry.id && l.state === 'connected' && l.peerNodeId === parent.id),
  );
  const link = childStatus.servers.find((l) => l.id === entry.id)!;
  assert.deepEqual([link.url, link.roles, link.peerName], [parent.node.url, { pull: true, serve: false }, 'parent']);
  assert.ok(link.transport === 'websocket', `transport ${link.transport}`);
  assert.ok(link.sessionExpiresAt !== null && link.sessionExpiresAt > Date.now(), 'the session expiry is shown');
  await until(
    'the parent sees its client',
    () => getJson<NetworkStatus>(`${parent.node.url}/api/v1/network/status`, parentToken),
    (s) => s.clients.some((l) => l.peerNodeId === child.id && l.roles.serve),
  );

  // The parent's content arrives, also what is written after the link is up.
  ok(await runMycel(['--node', parent.node.url, 'posts', 'create', 'lab:shared', 'after the link'], asOwner), 'post after the link');
  const parentDigest = await getJson<{ digest: string }>(`${parent.node.url}/api/v1/digest`, parentToken);
  await until('the child has the parent\'s content', () => getJson<{ digest: string }>(`${child.node.url}/api/v1/digest`, childToken), (d) => d.digest === parentDigest.digest);
  const posts = JSON.parse(ok(await runMycel(['--node', child.node.url, 'posts', 'list', 'lab:shared', '--json'], asOwner), 'posts at the child')) as Array<{ body: string }>;
  assert.deepEqual(posts.map((p) => p.body), ['before the link', 'after the link']);

  // `nodes status` as text: remote, and local (the child's own REST at its host and port).
  const serverLine = new RegExp(`^server ${entry.id} ${parent.node.url} \\(peer parent ${parent.id}\\)\\n  state connected, transport websocket, this node pulls\\n  cursor \\d+, lag`);
  const remoteStatus = ok(await runMycel(['--node', child.node.url, 'nodes', 'status'], asOwner), 'remote nodes status');
  assert.match(remoteStatus, serverLine);
  assert.match(remoteStatus, /\nno clients: no client node is connected\n$/);
  const port = new URL(child.node.url).port;
  const localStatus = ok(await runMycel(['nodes', 'status', '--host', '127.0.0.1', '--port', port], { MYCEL_DATA_DIR: child.dir, ...asOwner }), 'local nodes status');
  assert.match(localStatus, serverLine);
  const parentStatus = ok(await runMycel(['--node', parent.node.url, 'nodes', 'status'], asOwner), 'parent nodes status');
  assert.match(parentStatus, /^no servers: this node connects to none\nclient \S+ \(peer child /);

  ok(await runMycel(['--node', child.node.url, 'nodes', 'disconnect', entry.id], asOwner), 'nodes disconnect');
  const after = await getJson<NetworkStatus>(`${child.node.url}/api/v1/network/status`, childToken);
  assert.deepEqual(after.servers, []);
  const again = await runMycel(['--node', child.node.url, 'nodes', 'disconnect', entry.id], asOwner);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^error NETWORK_SERVER_NOT_FOUND: /);
  const servers = await getJson<{ items: unknown[] }>(`${child.node.url}/api/v1/network/servers`, childToken);
  assert.deepEqual(servers.items, []);
});
