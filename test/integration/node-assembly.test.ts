/**
 * The node as `mycel serve` assembles it (src/node/assemble.ts), in process on port 0: the
 * parts share what they must (one Namespaces: a post written through the domain reaches
 * realtime subscribers of a persisted namespace; one TokenVerifier: a connection JWT is an
 * app user over REST).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { configSchema } from '../../src/config/schema.js';
import { OWNER } from '../../src/domain/actor.js';
import { startNode, type RunningNode } from '../../src/node/assemble.js';
import { silentLog } from '../helpers/core.js';
import { API_KEY, sign, waitEvent, wsCentrifuge } from './realtime-harness.js';

let node: RunningNode;
let dataDir: string;
const clients: Centrifuge[] = [];

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'mycel-assembly-'));
  const config = configSchema.parse({
    node: { name: 'assembled', dataDir },
    owner: { password: 'owner-secret-assembly' },
    server: { host: '127.0.0.1', port: 0, shutdownGraceSeconds: 2 },
    realtime: { apiKey: API_KEY, namespaces: { notes: { persist: true, historySize: 10 } } },
  });
  node = await startNode(config, silentLog);
});

after(async () => {
  for (const c of clients) c.disconnect();
  await node?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a post committed through the domain reaches a realtime subscriber of its persisted namespace', async () => {
  const client = wsCentrifuge(`${node.url.replace('http', 'ws')}/connection/websocket`, { token: await sign({ sub: 'ann' }) });
  clients.push(client);
  client.on('error', () => {});
  const sub = client.newSubscription('notes:lobby');
  const subscribed = waitEvent(sub, 'subscribed');
  sub.subscribe();
  client.connect();
  await subscribed;
  const received = waitEvent<{ data: { body: string }; offset: number }>(sub, 'publication');
  const post = await node.core.operator.createPost(OWNER, { channel: 'notes:lobby', createChannel: true, body: 'from the domain' });
  const pub = await received;
  assert.equal(pub.data.body, 'from the domain');
  assert.equal(pub.offset, post.seq);
});

test('a connection JWT signed with realtime.apiKey authenticates REST as its user', async () => {
  const res = await node.app.inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${await sign({ sub: 'ann' })}` } });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual((res.json() as { actor: unknown }).actor, { kind: 'user', userId: 'ann' });
});
