// /api/v1/network over HTTP on SQLite and PostgreSQL, and remote administration: the owner and
// a client node with owner rights read the network status, connect and disconnect servers,
// register client nodes and write content; an app user and a node without owner rights are
// refused; a connect password is never shown or logged; a node without a network service says so.
// The service is the real NetworkNode; its servers are loopback ports nothing listens on, so
// their links stay connecting / backing off (linking nodes for real: test/e2e/network-admin.test.ts).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { newId } from '../../src/lib/ids.js';
import { NetworkNode } from '../../src/network/network-node.js';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';
import { storageBackends } from '../helpers/storage.js';
import { bearer, runScenario, startHarness, type Harness, type Scenario } from './http-harness.js';

const NODE_PASSWORD = 'client-node-pw-1';
const SERVER_PASSWORD = 'server-secret-7d1e-never-shown';

interface Ctx {
  owner: string;
  adminNode: string;
  plainNode: string;
  configId: string;
}

async function nodeSession(h: Harness, owner: string, asOwner: boolean): Promise<string> {
  const nodeId = newId();
  const made = await h.app.inject({ method: 'POST', url: '/api/v1/nodes', headers: bearer(owner), payload: { nodeId, password: NODE_PASSWORD, asOwner } });
  assert.equal(made.statusCode, 201, made.body);
  const res = await h.app.inject({ method: 'POST', url: '/api/v1/nodes/session', payload: { nodeId, password: NODE_PASSWORD } });
  assert.equal(res.statusCode, 201, res.body);
  return (res.json() as { token: string }).token;
}

/** A loopback URL nothing listens on. */
async function closedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

for (const backend of storageBackends) {
  describe(`HTTP node network management on ${backend.name}`, () => {
    let h: Harness;
    let network: NetworkNode;
    /** The network service's own log lines (debug and up). */
    const networkLogs: string[] = [];
    const networkLogSink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        networkLogs.push(chunk.toString('utf8'));
        done();
      },
    });
    const ctx: Ctx = { owner: '', adminNode: '', plainNode: '', configId: 'config-1' };
    const connect = { url: '', password: SERVER_PASSWORD };
    before(async () => {
      connect.url = await closedUrl();
      const configServer = { url: await closedUrl(), password: 'config-server-pw', role: 'child' as const, transport: 'auto' as const };
      h = await startHarness(backend, {
        config: { server: { loginAttemptsPerMinute: 1000 } },
        network: (core) => {
          network = new NetworkNode({
            core,
            settings: { servers: [configServer], changesChunkSize: 100, maxMessageBytes: 1024 * 1024, creditWindow: 4, enableWebsocket: true },
            registry: new Registry(),
            log: createLogger({ level: 'debug', destination: networkLogSink }),
          });
          return network;
        },
      });
      ctx.owner = await h.login();
      ctx.adminNode = await nodeSession(h, ctx.owner, true);
      ctx.plainNode = await nodeSession(h, ctx.owner, false);
    });
    after(() => h.close());

    const owner = (c: Ctx) => bearer(c.owner);
    const rows: Scenario<Ctx>[] = [
      { name: 'status without credentials', url: '/api/v1/network/status', expectStatus: 401, expectCode: 'UNAUTHENTICATED' },
      { name: 'status as an app user', url: '/api/v1/network/status', headers: bearer('user.u1'), expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'status as a node without owner rights', url: '/api/v1/network/status', headers: (c) => bearer(c.plainNode), expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'servers as a node without owner rights', url: '/api/v1/network/servers', headers: (c) => bearer(c.plainNode), expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'connect as an app user', method: 'POST', url: '/api/v1/network/servers', headers: bearer('user.u1'), json: connect, expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'connect as a node without owner rights', method: 'POST', url: '/api/v1/network/servers', headers: (c) => bearer(c.plainNode), json: connect, expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'disconnect as a node without owner rights', method: 'DELETE', url: (c) => `/api/v1/network/servers/${c.configId}`, headers: (c) => bearer(c.plainNode), expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'connect to a URL that is not one', method: 'POST', url: '/api/v1/network/servers', headers: owner, json: { ...connect, url: 'parent.example.org' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'connect to an ftp URL', method: 'POST', url: '/api/v1/network/servers', headers: owner, json: { ...connect, url: 'ftp://parent.example.org' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'connect to a URL with credentials', method: 'POST', url: '/api/v1/network/servers', headers: owner, json: { ...connect, url: 'https://me:pw@parent.example.org' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'connect to a URL with a query', method: 'POST', url: '/api/v1/network/servers', headers: owner, json: { ...connect, url: 'https://parent.example.org/?token=x' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'connect without a password', method: 'POST', url: '/api/v1/network/servers', headers: owner, json: { url: connect.url }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'connect with an unknown role', method: 'POST', url: '/api/v1/network/servers', headers: owner, json: { ...connect, role: 'sibling' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'connect with an unknown transport', method: 'POST', url: '/api/v1/network/servers', headers: owner, json: { ...connect, transport: 'carrier-pigeon' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'connect with an unknown field', method: 'POST', url: '/api/v1/network/servers', headers: owner, json: { ...connect, token: 'x' }, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'disconnect an unknown entry', method: 'DELETE', url: `/api/v1/network/servers/${newId()}`, headers: owner, expectStatus: 404, expectCode: 'NETWORK_SERVER_NOT_FOUND' },
      { name: 'disconnect an id that is no server entry id', method: 'DELETE', url: '/api/v1/network/servers/parent-1', headers: owner, expectStatus: 400, expectCode: 'VALIDATION_FAILED' },
      { name: 'disconnect a config entry that is not there', method: 'DELETE', url: '/api/v1/network/servers/config-7', headers: owner, expectStatus: 404, expectCode: 'NETWORK_SERVER_NOT_FOUND' },
      { name: 'disconnect an entry from the configuration', method: 'DELETE', url: (c) => `/api/v1/network/servers/${c.configId}`, headers: owner, expectStatus: 403, expectCode: 'NETWORK_SERVER_FROM_CONFIG' },
      { name: 'a node without owner rights still reads content', url: '/api/v1/channels', headers: (c) => bearer(c.plainNode), expectStatus: 200 },
      { name: 'a node without owner rights cannot create a channel', method: 'POST', url: '/api/v1/channels', headers: (c) => bearer(c.plainNode), json: { name: 'plain:made' }, expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'a node without owner rights cannot register nodes', method: 'POST', url: '/api/v1/nodes', headers: (c) => bearer(c.plainNode), json: { nodeId: newId(), password: NODE_PASSWORD }, expectStatus: 403, expectCode: 'FORBIDDEN' },
      { name: 'a node without owner rights cannot read the change log', url: '/api/v1/changes', headers: (c) => bearer(c.plainNode), expectStatus: 403, expectCode: 'FORBIDDEN' },
    ];
    for (const row of rows) test(row.name, async () => void (await runScenario(h.app, row, ctx)));

    for (const who of ['owner', 'adminNode'] as const) {
      test(`${who === 'owner' ? 'the owner' : 'a node with owner rights'} connects a server, sees it in status and the list, and disconnects it`, async () => {
        const headers = bearer(ctx[who]);
        const res = await h.app.inject({ method: 'POST', url: '/api/v1/network/servers', headers, payload: { ...connect, role: 'both', transport: 'sse' } });
        assert.equal(res.statusCode, 201, res.body);
        assert.doesNotMatch(res.body, new RegExp(SERVER_PASSWORD), 'the reply never carries the password');
        const entry = res.json() as { id: string; url: string; role: string; transport: string; source: string };
        assert.deepEqual([entry.url, entry.role, entry.transport, entry.source], [connect.url, 'both', 'sse', 'runtime']);
        const stored = (await h.core.networkServers.list()).find((r) => r.id === entry.id);
        assert.equal(stored?.password, SERVER_PASSWORD, 'kept to log in again');

        const list = await h.app.inject({ url: '/api/v1/network/servers', headers });
        assert.equal(list.statusCode, 200, list.body);
        const items = (list.json() as { items: Array<{ id: string; source: string }> }).items;
        assert.deepEqual(items.map((e) => [e.id, e.source]), [[ctx.configId, 'config'], [entry.id, 'runtime']]);
        assert.doesNotMatch(list.body, new RegExp(SERVER_PASSWORD));

        const status = await h.app.inject({ url: '/api/v1/network/status', headers });
        assert.equal(status.statusCode, 200, status.body);
        assert.doesNotMatch(status.body, new RegExp(SERVER_PASSWORD));
        const body = status.json() as { servers: Array<{ id: string; url: string; roles: unknown; state: string; peerNodeId: string | null }>; clients: unknown[] };
        const link = body.servers.find((s) => s.id === entry.id);
        assert.deepEqual([link?.url, link?.roles, link?.peerNodeId], [connect.url, { pull: true, serve: true }, null]);
        assert.ok(['connecting', 'backoff'].includes(link?.state ?? ''), `nothing listens there: ${link?.state}`);
        assert.ok(body.servers.some((s) => s.id === ctx.configId), 'the config entry has a link too');
        assert.deepEqual(body.clients, []);

        const gone = await h.app.inject({ method: 'DELETE', url: `/api/v1/network/servers/${entry.id}`, headers });
        assert.equal(gone.statusCode, 204, gone.body);
        assert.equal(network.listServers().some((e) => e.id === entry.id), false);
        assert.equal((await h.core.networkServers.list()).some((r) => r.id === entry.id), false, 'forgotten in the database');
        assert.equal(h.logs.some((line) => line.includes(SERVER_PASSWORD)), false, 'no HTTP log line carries the password');
        assert.ok(networkLogs.length > 0, 'the network service logged (its failed connects)');
        assert.equal(networkLogs.some((line) => line.includes(SERVER_PASSWORD)), false, 'no network log line carries the password');
      });
    }

    test('a node with owner rights registers a client node, creates a channel, writes and reads a post, reads the change log', async () => {
      const headers = bearer(ctx.adminNode);
      const nodeId = newId();
      const reg = await h.app.inject({ method: 'POST', url: '/api/v1/nodes', headers, payload: { nodeId, password: NODE_PASSWORD } });
      assert.equal(reg.statusCode, 201, reg.body);
      const list = await h.app.inject({ url: '/api/v1/nodes', headers });
      assert.ok((list.json() as { items: Array<{ id: string }> }).items.some((n) => n.id === nodeId));
      const channel = await h.app.inject({ method: 'POST', url: '/api/v1/channels', headers, payload: { name: 'admin:remote' } });
      assert.equal(channel.statusCode, 201, channel.body);
      const channelId = (channel.json() as { id: string }).id;
      const post = await h.app.inject({ method: 'POST', url: `/api/v1/channels/${channelId}/posts`, headers, payload: { body: 'from afar' } });
      assert.equal(post.statusCode, 201, post.body);
      const posts = await h.app.inject({ url: `/api/v1/channels/${channelId}/posts`, headers });
      const items = (posts.json() as { items: Array<{ body: string; author: string }> }).items;
      assert.deepEqual(items.map((p) => p.body), ['from afar']);
      assert.match(items[0]!.author, /^node:/, 'the post names the node that wrote it');
      const changes = await h.app.inject({ url: '/api/v1/changes', headers });
      assert.equal(changes.statusCode, 200);
    });
  });
}

describe('HTTP node network management without a network service', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(storageBackends[0]!);
  });
  after(() => h.close());

  test('every /api/v1/network route answers NETWORK_UNAVAILABLE to the owner, and still refuses others first', async () => {
    const owner = bearer(await h.login());
    const rows: Scenario<null>[] = [
      { name: 'status', url: '/api/v1/network/status', headers: owner, expectStatus: 503, expectCode: 'NETWORK_UNAVAILABLE' },
      { name: 'servers', url: '/api/v1/network/servers', headers: owner, expectStatus: 503, expectCode: 'NETWORK_UNAVAILABLE' },
      { name: 'connect', method: 'POST', url: '/api/v1/network/servers', headers: owner, json: { url: 'http://127.0.0.1:9', password: 'x' }, expectStatus: 503, expectCode: 'NETWORK_UNAVAILABLE' },
      { name: 'disconnect', method: 'DELETE', url: `/api/v1/network/servers/${newId()}`, headers: owner, expectStatus: 503, expectCode: 'NETWORK_UNAVAILABLE' },
      { name: 'status as a user', url: '/api/v1/network/status', headers: bearer('user.u1'), expectStatus: 403, expectCode: 'FORBIDDEN' },
    ];
    for (const row of rows) await runScenario(h.app, row, null);
  });
});
