/**
 * Realtime scale-out with real processes: three `mycel serve` processes (A, B, C) serve ONE
 * node — one PostgreSQL schema, one Redis (the shared one; every key carries the node's fresh
 * id and is deleted afterwards) — and behave as one server for real `centrifuge` clients:
 * publications, presence, join/leave and emulation requests cross instances; a client that
 * loses its instance (SIGKILL) recovers on another one behind the same load-balanced URL;
 * persisted namespaces go through PostgreSQL whichever instance a post enters by (and a
 * re-created channel is a new stream); a graceful shutdown sends clients elsewhere with 3001.
 * A is SIGKILLed and C stopped near the end, so the tests run in this order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Centrifuge, ConnectedContext, ConnectingContext, JoinContext, LeaveContext, PublicationContext, SubscribedContext } from 'centrifuge';
import { TEST_REDIS_URL } from '../helpers/env.js';
import { collect, waitEvent, waitUntilEvent } from '../integration/realtime-harness.js';
import { api, Balancer, Cluster, OWNER_PASSWORD, pollUntil, record, rest, segments, sign, within, type Instance } from './realtime-cluster-harness.js';

const CONFIG = `
realtime:
  namespaces:
    chat:
      historySize: 100
      historyTtlSeconds: 300
      recovery: true
      presenceEnabled: true
      joinLeave: true
    notes:
      persist: true
      historySize: 100
`;

interface Post {
  id: string;
  seq: number;
  body: string;
  author: string;
  channelId: string;
}

describe('realtime cluster: three processes, one node, one Redis, one PostgreSQL', () => {
  // Presence TTL at its minimum, so the entries of a killed instance expire within the test.
  const cluster = new Cluster({ configYaml: CONFIG, redisUrl: TEST_REDIS_URL, env: { MYCEL_PRESENCE_TTL_SECONDS: '5' } });
  let A: Instance;
  let B: Instance;
  let C: Instance;

  before(async () => {
    await cluster.prepare();
    // A alone first: it creates the node in the empty schema; B and C open the same node.
    A = await cluster.start('A');
    [B, C] = await Promise.all([cluster.start('B'), cluster.start('C')]);
  });
  after(() => cluster.cleanup());

  async function connected(url: string, user: string): Promise<{ client: Centrifuge; id: string }> {
    const client = await cluster.client(url, user);
    const ready = waitEvent<ConnectedContext>(client, 'connected');
    client.connect();
    return { client, id: (await ready).client };
  }

  it('a client on A receives what is published on B, by a client and by the server API', async () => {
    const alice = await cluster.client(A.ws, 'alice');
    const sub = alice.newSubscription('chat:cross');
    const pubs = collect<PublicationContext>(sub, 'publication');
    const subscribed = waitEvent<SubscribedContext>(sub, 'subscribed');
    sub.subscribe();
    alice.connect();
    const position = (await subscribed).streamPosition;
    assert.ok(position && position.epoch !== '', 'a positioned subscription with an epoch');

    const { client: bob } = await connected(B.ws, 'bob');
    await bob.publish('chat:cross', { text: 'from a client on B' });
    const answer = await api(B.url, 'publish', { channel: 'chat:cross', data: { text: 'from the server API on B' } });
    assert.deepEqual(answer, { result: { offset: position.offset + 2, epoch: position.epoch } });

    await waitUntilEvent(sub, 'publication', () => pubs.length >= 2, 5000, 'two publications on A');
    assert.deepEqual(
      pubs.map((p) => [p.offset, p.data.text, p.info?.user]),
      [
        [position.offset + 1, 'from a client on B', 'bob'],
        [position.offset + 2, 'from the server API on B', undefined],
      ],
    );
    // The history is one stream too: A reads what B appended.
    const history = await alice.history('chat:cross', { limit: -1 });
    assert.equal(history.epoch, position.epoch);
    assert.deepEqual(history.publications.map((p) => p.data.text), ['from a client on B', 'from the server API on B']);
  });

  it('presence on A lists the clients on B; presence_stats and join/leave cross instances', async () => {
    const alice = await cluster.client(A.ws, 'alice');
    const sub = alice.newSubscription('chat:presence', { joinLeave: true });
    const joins = collect<JoinContext>(sub, 'join');
    const leaves = collect<LeaveContext>(sub, 'leave');
    const subscribed = waitEvent(sub, 'subscribed');
    const aliceId = waitEvent<ConnectedContext>(alice, 'connected').then((c) => c.client);
    sub.subscribe();
    alice.connect();
    await subscribed;

    // Bob twice on B (two connections, one user), Carol on C.
    const others = await Promise.all([connected(B.ws, 'bob'), connected(B.ws, 'bob'), connected(C.ws, 'carol')]);
    await Promise.all(
      others.map(({ client }) => {
        const s = client.newSubscription('chat:presence');
        const done = waitEvent(s, 'subscribed');
        s.subscribe();
        return done;
      }),
    );
    const [bob1, bob2, carol] = others.map((o) => o.id) as [string, string, string];

    const presence = await alice.presence('chat:presence');
    assert.deepEqual(
      Object.fromEntries(Object.entries(presence.clients).map(([id, info]) => [id, info.user])),
      { [await aliceId]: 'alice', [bob1]: 'bob', [bob2]: 'bob', [carol]: 'carol' },
    );
    assert.deepEqual(await alice.presenceStats('chat:presence'), { numClients: 4, numUsers: 3 });
    // The server API of another instance sees the same presence.
    const viaApi = await api(C.url, 'presence_stats', { channel: 'chat:presence' });
    assert.deepEqual(viaApi, { result: { num_clients: 4, num_users: 3 } });

    await waitUntilEvent(sub, 'join', () => [bob1, bob2, carol].every((id) => joins.some((j) => j.info.client === id)), 5000, 'joins from B and C on A');
    others[1]!.client.disconnect();
    await waitUntilEvent(sub, 'leave', () => leaves.some((l) => l.info.client === bob2), 5000, 'the leave of a client on B');
    // The leave event and the presence removal travel separately: wait for the removal too.
    await pollUntil(async () => (await alice.presence('chat:presence')).clients[bob2] === undefined, 5000, 'the client that left to leave presence');
    assert.deepEqual(await alice.presenceStats('chat:presence'), { numClients: 3, numUsers: 3 });
  });

  it('persisted namespace: a publish on A is a post in PostgreSQL (acknowledged after commit) and reaches B; a REST post on B reaches A', async () => {
    const reader = await cluster.client(B.ws, 'reader');
    const onB = reader.newSubscription('notes:x');
    const pubsB = collect<PublicationContext>(onB, 'publication');
    const writer = await cluster.client(A.ws, 'alice');
    const onA = writer.newSubscription('notes:x');
    const pubsA = collect<PublicationContext>(onA, 'publication');
    const ready = Promise.all([waitEvent(onB, 'subscribed'), waitEvent(onA, 'subscribed')]);
    onB.subscribe();
    onA.subscribe();
    reader.connect();
    writer.connect();
    await ready;

    await writer.publish('notes:x', { body: 'hello from A', meta: { n: 1 } });
    // The ack means committed: B — another process, another pool — reads the post at once.
    const login = await rest(B.url, 'POST', '/api/v1/session', undefined, { password: OWNER_PASSWORD });
    assert.equal(login.status, 201, JSON.stringify(login.body));
    const owner = login.body.token as string;
    const channels = await rest(B.url, 'GET', '/api/v1/channels?limit=100', owner);
    assert.equal(channels.status, 200);
    const channel = (channels.body.items as Array<{ id: string; name: string }>).find((c) => c.name === 'notes:x');
    assert.ok(channel, 'the publish created the channel');
    const listed = await rest(B.url, 'GET', `/api/v1/channels/${channel.id}/posts`, owner);
    assert.equal(listed.status, 200);
    const posts = listed.body.items as Post[];
    assert.deepEqual(
      posts.map((p) => [p.seq, p.body, p.author]),
      [[1, 'hello from A', 'user:alice']],
    );

    await waitUntilEvent(onB, 'publication', () => pubsB.length >= 1, 5000, 'the post on B');
    assert.equal(pubsB[0]!.offset, 1);
    assert.equal((pubsB[0]!.data as Post).id, posts[0]!.id);

    // A post written over REST on B with the connection JWT (the app user) reaches A's subscriber.
    const created = await rest<Post>(B.url, 'POST', `/api/v1/channels/${channel.id}/posts`, await sign({ sub: 'bob' }), { body: 'from REST on B' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const post = created.body;
    assert.deepEqual([post.seq, post.author], [2, 'user:bob']);
    await waitUntilEvent(onA, 'publication', () => pubsA.length >= 2, 5000, 'both posts on A');
    assert.deepEqual(
      pubsA.map((p) => [p.offset, (p.data as Post).id, (p.data as Post).body]),
      [
        [1, posts[0]!.id, 'hello from A'],
        [2, post.id, 'from REST on B'],
      ],
    );
    await waitUntilEvent(onB, 'publication', () => pubsB.length >= 2, 5000, 'the REST post on B');
    assert.deepEqual(pubsB.map((p) => p.offset), [1, 2]);
    // History of a persisted channel is the database, on every instance: epoch = channel id.
    const history = await writer.history('notes:x', { limit: -1 });
    assert.deepEqual([history.epoch, history.offset], [channel.id, 2]);
  });

  it('persisted namespace: a channel deleted and re-created is a new stream; a client that subscribed before it existed is told it could not recover', async () => {
    const login = await rest(B.url, 'POST', '/api/v1/session', undefined, { password: OWNER_PASSWORD });
    assert.equal(login.status, 201);
    const owner = login.body.token as string;
    const lb = await Balancer.start([A.port]);
    cluster.onCleanup(() => lb.close());
    const reader = await cluster.client(lb.ws, 'reader');
    const sub = reader.newSubscription('notes:reborn');
    const events = record(sub);
    const first = waitEvent<SubscribedContext>(sub, 'subscribed');
    sub.subscribe();
    reader.connect();
    // Subscribed while the channel does not exist yet: the stream has no epoch so far.
    const start = (await first).streamPosition;
    assert.deepEqual([start?.offset ?? 0, start?.epoch ?? ''], [0, '']);

    const created = await rest(B.url, 'POST', '/api/v1/channels', owner, { name: 'notes:reborn' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await rest(B.url, 'POST', `/api/v1/channels/${created.body.id}/posts`, owner, { body: 'old 1' })).status, 201);
    await waitUntilEvent(sub, 'publication', () => events.some((e) => e.kind === 'publication'), 5000, 'the first post');

    const gone = waitEvent(reader, 'disconnected');
    reader.disconnect();
    await gone;
    // The owner deletes the channel and makes a new one with the same name: another stream,
    // whose seq starts at 1 again.
    assert.equal((await rest(B.url, 'DELETE', `/api/v1/channels/${created.body.id}`, owner)).status, 204);
    const reborn = await rest(B.url, 'POST', '/api/v1/channels', owner, { name: 'notes:reborn' });
    assert.equal(reborn.status, 201);
    assert.notEqual(reborn.body.id, created.body.id);
    for (const body of ['new 1', 'new 2', 'new 3']) {
      assert.equal((await rest(B.url, 'POST', `/api/v1/channels/${reborn.body.id}/posts`, owner, { body })).status, 201);
    }

    lb.setBackends([C.port]);
    const again = waitEvent<SubscribedContext>(sub, 'subscribed');
    reader.connect();
    const ctx = await within(again, 10_000, 'the resubscribe on C');
    assert.equal(lb.routed.at(-1), C.port);
    // Resuming after offset 1 would hand over 'new 2', 'new 3' as if they followed 'old 1', and
    // 'new 1' would be silently missing.
    assert.equal(ctx.wasRecovering, true);
    assert.equal(ctx.recovered, false, 'recovered across a deleted and re-created channel');
    assert.deepEqual(ctx.streamPosition, { offset: 3, epoch: reborn.body.id });
  });

  it('emulation without sticky sessions: the stream on B, the commands POSTed to C, routed over Redis', async () => {
    const gus = await cluster.client([{ transport: 'http_stream', endpoint: `${B.url}/connection/http_stream` }], 'gus', {
      fetch: globalThis.fetch,
      readableStream: globalThis.ReadableStream,
      emulationEndpoint: `${C.url}/emulation`,
    });
    const sub = gus.newSubscription('chat:emulated');
    const pubs = collect<PublicationContext>(sub, 'publication');
    const ready = waitEvent<ConnectedContext>(gus, 'connected');
    const subscribed = waitEvent(sub, 'subscribed');
    sub.subscribe();
    gus.connect();
    assert.equal((await ready).transport, 'http_stream');
    await subscribed;
    await gus.publish('chat:emulated', 'through C');
    await waitUntilEvent(sub, 'publication', () => pubs.length >= 1, 5000, 'the publication on the stream');
    assert.deepEqual([pubs[0]!.data, pubs[0]!.info?.user], ['through C', 'gus']);
    const stats = await api(A.url, 'presence_stats', { channel: 'chat:emulated' });
    assert.deepEqual(stats, { result: { num_clients: 1, num_users: 1 } });
  });

  it('the server API info of any instance lists all three instances', async () => {
    // Instances announce themselves every 5 s over the Bus.
    const ids = await pollUntil(
      async () => {
        const nodes = ((await api(B.url, 'info', {})).result?.nodes ?? []) as Array<{ uid: string; num_clients: number }>;
        return nodes.length === 3 ? nodes.map((n) => n.uid) : undefined;
      },
      12_000,
      'three instances in info',
      250,
    );
    assert.equal(new Set(ids).size, 3);
  });

  it('a client whose instance is SIGKILLed reconnects to another one behind the same URL and recovers what it missed, in order, once', async () => {
    const lb = await Balancer.start([A.port, B.port]);
    cluster.onCleanup(() => lb.close());
    const rita = await cluster.client(lb.ws, 'rita');
    const sub = rita.newSubscription('chat:failover');
    const events = record(sub);
    const first = waitEvent(sub, 'subscribed');
    const onA = waitEvent<ConnectedContext>(rita, 'connected');
    sub.subscribe();
    rita.connect();
    const deadClient = (await onA).client;
    await first;
    assert.deepEqual(lb.routed, [A.port], 'the balancer sent the client to A');

    assert.deepEqual((await api(B.url, 'publish', { channel: 'chat:failover', data: 1 })).result?.offset, 1);
    await waitUntilEvent(sub, 'publication', () => events.some((e) => e.kind === 'publication'), 5000, 'the first publication');

    // Nothing to route to while A is dead: the client keeps retrying; meanwhile B publishes three more.
    lb.setBackends([]);
    const dropped = waitEvent<ConnectingContext>(rita, 'connecting');
    A.proc.child.kill('SIGKILL');
    await dropped;
    for (const n of [2, 3, 4]) assert.equal((await api(B.url, 'publish', { channel: 'chat:failover', data: n })).result?.offset, n);

    const resubscribed = waitEvent<SubscribedContext>(sub, 'subscribed');
    lb.setBackends([A.port, B.port]);
    const reconnected = waitEvent<ConnectedContext>(rita, 'connected', () => true, 10_000);
    const ctx = await within(resubscribed, 10_000, 'the resubscribe on B');
    const liveClient = (await reconnected).client;
    assert.equal(ctx.recovered, true);
    assert.equal(ctx.wasRecovering, true);
    assert.equal(lb.routed.at(-1), B.port, 'the reconnect went to B (A is dead)');
    assert.equal(A.alive(), false);

    const final = await api(B.url, 'publish', { channel: 'chat:failover', data: 5 });
    assert.equal(final.result?.offset, 5);
    await waitUntilEvent(sub, 'publication', () => events.some((e) => e.kind === 'publication' && e.offset === 5), 5000, 'the live publication after recovery');
    const segs = segments(events, 'rita');
    assert.equal(segs.length, 2);
    // Everything arrived once and in order: 1 live on A, 2-4 recovered on B, 5 live on B.
    assert.deepEqual(
      segs.flatMap((s) => s.data),
      [1, 2, 3, 4, 5],
    );

    // A could not clean its presence up; its entry expires (TTL 5 s) while B keeps refreshing the new one.
    await pollUntil(
      async () => {
        const clients = ((await api(B.url, 'presence', { channel: 'chat:failover' })).result?.presence ?? {}) as Record<string, unknown>;
        assert.ok(clients[liveClient], 'the reconnected client is present');
        return clients[deadClient] === undefined;
      },
      10_000,
      'the presence of the killed instance to expire',
      250,
    );
  });

  it('SIGTERM on C: its clients get 3001 and reconnect to B (the next endpoint), C exits 0', async () => {
    const lb = await Balancer.start([C.port]);
    cluster.onCleanup(() => lb.close());
    const viaLb = await cluster.client(lb.ws, 'yann');
    const sub = viaLb.newSubscription('chat:drain');
    const events = record(sub);
    const first = waitEvent(sub, 'subscribed');
    sub.subscribe();
    viaLb.connect();
    await first;
    // A client that knows only C: it can only be told to come back later.
    const { client: direct } = await connected(C.ws, 'zoe');
    assert.deepEqual(lb.routed, [C.port]);
    assert.equal((await api(B.url, 'publish', { channel: 'chat:drain', data: 'before' })).result?.offset, 1);
    await waitUntilEvent(sub, 'publication', () => events.some((e) => e.kind === 'publication'), 5000, 'a publication on C');

    // The operator drains C in the balancer, then stops it.
    lb.setBackends([B.port]);
    const shutdownLb = waitEvent<ConnectingContext>(viaLb, 'connecting');
    const shutdownDirect = waitEvent<ConnectingContext>(direct, 'connecting');
    const back = waitEvent<SubscribedContext>(sub, 'subscribed', () => true, 10_000);
    const exit = C.proc.stop('SIGTERM', 10_000);
    const [lbCtx, directCtx] = await within(Promise.all([shutdownLb, shutdownDirect]), 10_000, 'the 3001 disconnects');
    assert.deepEqual([lbCtx.code, lbCtx.reason], [3001, 'shutdown']);
    assert.deepEqual([directCtx.code, directCtx.reason], [3001, 'shutdown']);
    assert.deepEqual(await within(exit, 15_000, 'C to exit'), { code: 0, signal: null });
    direct.disconnect();

    const ctx = await back;
    assert.equal(ctx.recovered, true);
    assert.equal(lb.routed.at(-1), B.port);
    assert.equal(lb.openTo(B.port), 1);
    assert.equal((await api(B.url, 'publish', { channel: 'chat:drain', data: 'after' })).result?.offset, 2);
    await waitUntilEvent(sub, 'publication', () => events.filter((e) => e.kind === 'publication').length >= 2, 5000, 'a publication on B');
    assert.deepEqual(
      segments(events, 'yann').flatMap((s) => s.data),
      ['before', 'after'],
    );
  });
});
