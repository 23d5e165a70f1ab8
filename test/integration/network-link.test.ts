/**
 * Node links in process (the assembly `mycel serve` uses, real sockets on loopback): a child
 * pulls a parent over WebSocket and over SSE + HTTP, catch-up then live; role reversal; the
 * registration's role and channel permissions; wrong credentials — each visible in status.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { OWNER } from '../../src/domain/actor.js';
import { converged, NODE_PASSWORD, register, serverStatus, startTestNode, until, type TestNode } from '../helpers/network.js';

const nodes: TestNode[] = [];
async function node(name: string, extra: Parameters<typeof startTestNode>[1] = {}): Promise<TestNode> {
  const n = await startTestNode(name, extra);
  nodes.push(n);
  return n;
}
after(async () => {
  for (const n of nodes.reverse()) await n.close();
});

async function seed(n: TestNode, channel: string, posts: number): Promise<void> {
  const ch = await n.node.core.operator.createChannel(OWNER, { name: channel });
  await Promise.all(Array.from({ length: posts }, (_, i) => n.node.core.operator.createPost(OWNER, { channelId: ch.id, body: `${channel} post ${i}` })));
}

describe('node links', { timeout: 90_000 }, () => {
  for (const transport of ['websocket', 'sse'] as const) {
    it(`a child pulls its parent over ${transport}: catch-up in chunks, then live changes`, async () => {
      const parent = await node(`parent-${transport}`, { network: { changesChunkSize: 7 } });
      const child = await node(`child-${transport}`);
      await seed(parent, 'notes:a', 120);
      await register(parent.node, child.node, 'child');
      await child.node.network.addServer({ url: parent.node.url, password: NODE_PASSWORD, role: 'child', transport });
      await converged(parent.node, child.node, 120);
      await seed(parent, 'notes:b', 5);
      await converged(parent.node, child.node, 125);
      const status = serverStatus(child.node);
      assert.equal(status.state, 'connected');
      assert.equal(status.transport, transport);
      assert.equal(status.peerNodeId, parent.node.core.node.id);
      assert.deepEqual(status.roles, { pull: true, serve: false });
      assert.equal(status.cursor, (await parent.node.core.storage.readChangeHead()).serial);
      assert.equal(status.lagChanges, 0);
      assert.equal(status.importedTotal, 127);
      assert.ok(status.sessionExpiresAt! > Date.now());
      const [client] = parent.node.network.status().clients;
      assert.equal(client?.peerNodeId, child.node.core.node.id);
      assert.deepEqual(client?.roles, { pull: false, serve: true });
      assert.equal(client?.sentTotal, 127);
      const metricsOf = async (n: TestNode) => (await n.node.app.inject({ method: 'GET', url: '/metrics' })).body;
      const childPeer = `peer="${parent.node.core.node.id}"`;
      const childMetrics = await metricsOf(child);
      assert.match(childMetrics, new RegExp(`mycel_replication_imported_changes_total\\{${childPeer}\\} 127\\n`));
      assert.match(childMetrics, new RegExp(`mycel_replication_lag_changes\\{${childPeer}\\} 0\\n`));
      assert.match(childMetrics, new RegExp(`mycel_replication_lag_seconds\\{${childPeer}\\} 0\\n`));
      assert.match(await metricsOf(parent), new RegExp(`mycel_replication_sent_changes_total\\{peer="${child.node.core.node.id}"\\} 127\\n`));
      // The child's log holds the parent's changes under their origin.
      const changes = await child.node.core.storage.getChanges(1, 1000);
      assert.equal(changes.length, 127);
      assert.ok(changes.every((c) => c.originNodeId === parent.node.core.node.id));
    });
  }

  it('role reversal: the server pulls the database of a client registered as parent', async () => {
    const server = await node('rr-server');
    const client = await node('rr-client');
    await seed(client, 'notes:behind-nat', 30);
    await register(server.node, client.node, 'parent');
    await client.node.network.addServer({ url: server.node.url, password: NODE_PASSWORD, role: 'parent' });
    await converged(client.node, server.node, 30);
    const [link] = server.node.network.status().clients;
    assert.deepEqual(link?.roles, { pull: true, serve: false });
    assert.equal(link?.importedTotal, 31);
    assert.deepEqual(serverStatus(client.node).roles, { pull: false, serve: true });
  });

  it('a client asking for a role its registration does not allow is refused with NODE_ROLE_REFUSED, and stops', async () => {
    const server = await node('role-server');
    const client = await node('role-client');
    await register(server.node, client.node, 'child');
    await client.node.network.addServer({ url: server.node.url, password: NODE_PASSWORD, role: 'parent' });
    const status = await until('the refusal', () => (serverStatus(client.node).state === 'stopped' ? serverStatus(client.node) : undefined));
    assert.equal(status.lastError?.code, 'NODE_ROLE_REFUSED');
    const refused = await until('the server to show it', () => server.node.network.status().clients.find((c) => c.lastError?.code === 'NODE_ROLE_REFUSED'));
    assert.equal(refused.state, 'stopped');
  });

  it('a wrong password, and an unregistered node id, are INVALID_CREDENTIALS in status, retried with backoff', async () => {
    const server = await node('cred-server');
    const registered = await node('cred-registered');
    const unknown = await node('cred-unknown');
    await register(server.node, registered.node, 'child');
    await registered.node.network.addServer({ url: server.node.url, password: 'not-the-password', role: 'child' });
    await unknown.node.network.addServer({ url: server.node.url, password: NODE_PASSWORD, role: 'child' });
    for (const client of [registered, unknown]) {
      const status = await until('the refusal', () => (serverStatus(client.node).lastError?.code === 'INVALID_CREDENTIALS' ? serverStatus(client.node) : undefined));
      assert.notEqual(status.state, 'connected');
      assert.notEqual(status.state, 'stopped');
    }
    assert.equal(server.node.network.status().clients.length, 0);
  });

  it('a registration with channel patterns gets only those channels', async () => {
    const parent = await node('filter-parent');
    const child = await node('filter-child');
    await seed(parent, 'open:x', 10);
    await seed(parent, 'secret:y', 10);
    await seed(parent, 'open:z', 3);
    // A change that names no channel (a blob record) belongs to no permitted channel: not sent.
    await parent.node.core.operator.recordBlob(OWNER, { sha256: 'a'.repeat(64), sha1: 'b'.repeat(40), size: 1 }, 'text/plain');
    await register(parent.node, child.node, 'child', ['open:*']);
    await child.node.network.addServer({ url: parent.node.url, password: NODE_PASSWORD, role: 'child' });
    await until('the open channels', async () => ((await child.node.core.storage.countChanges()) >= 15 ? true : undefined));
    const names = (await child.node.core.storage.listChannels({ limit: 10 })).map((c) => c.name).sort();
    assert.deepEqual(names, ['open:x', 'open:z']);
    await seed(parent, 'secret:w', 2);
    await seed(parent, 'open:v', 2);
    await until('the live open channel', async () => ((await child.node.core.storage.countChanges()) >= 18 ? true : undefined));
    assert.equal(await child.node.core.storage.countChanges(), 18);
    const types = new Set((await child.node.core.storage.getChanges(1, 100)).map((c) => c.type.split('.')[0]));
    assert.deepEqual([...types].sort(), ['channel', 'post']);
  });

  it('removing a server entry closes its link; config entries cannot be removed; unknown ids are NETWORK_SERVER_NOT_FOUND', async () => {
    const parent = await node('rm-parent');
    const child = await node('rm-child');
    await register(parent.node, child.node, 'child');
    const entry = await child.node.network.addServer({ url: parent.node.url, password: NODE_PASSWORD, role: 'child' });
    assert.equal(entry.source, 'runtime');
    assert.ok(!('password' in entry));
    await until('connected', () => (serverStatus(child.node).state === 'connected' ? true : undefined));
    await child.node.network.removeServer(entry.id);
    assert.deepEqual(child.node.network.listServers(), []);
    await until('the parent to see the link go', () => (parent.node.network.status().clients.every((c) => c.state === 'stopped') ? true : undefined));
    await assert.rejects(child.node.network.removeServer(entry.id), { code: 'NETWORK_SERVER_NOT_FOUND' });
  });
});
