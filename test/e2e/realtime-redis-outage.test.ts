/**
 * Redis restarted under load, with real processes: two `mycel serve` processes of one node on
 * a PRIVATE redis-server (never the shared one), a subscriber on each, and a publisher at a
 * steady bounded rate through the server API of both. Redis is SIGKILLed, stays down for about
 * a second (measured in failed publishes, not slept), and comes back EMPTY on the same port.
 *
 * Checked: no Mycel process crashes and both reconnect by themselves; every publish is answered
 * (an offset, or error 100 during the outage: no hang, no false ack); every subscriber is
 * resubscribed and receives what is published after the restart; and for each subscriber every
 * acknowledged publication was either received, or the client was told it could not recover
 * it (a resubscribe with `recovered: false`) — never a silent gap.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Centrifuge, ConnectedContext } from 'centrifuge';
import { freePort, RedisServer } from '../helpers/redis-server.js';
import { waitEvent } from '../integration/realtime-harness.js';
import {
  accountedFor,
  api,
  Cluster,
  OWNER_PASSWORD,
  pollUntil,
  record,
  rest,
  segments,
  sign,
  type Instance,
  type SubEvent,
} from './realtime-cluster-harness.js';

const CONFIG = `
realtime:
  namespaces:
    chat:
      historySize: 1000
      historyTtlSeconds: 300
      recovery: true
    notes:
      persist: true
`;
const CHANNEL = 'chat:load';
/** A persisted channel: its history is PostgreSQL, which the outage does not touch. */
const NOTES = 'notes:outage';
/** One publish every 50 ms at most (20/s), alternating between the instances. */
const PUBLISH_INTERVAL_MS = 50;
/** Publishes that must fail before Redis comes back: about a second of outage at 20/s. */
const OUTAGE_FAILURES = 20;

interface Sent {
  seq: number;
  via: string;
  sentAt: number;
  doneAt: number;
  offset?: number;
  epoch?: string;
  error?: { code: number; message: string };
  /** The call itself failed (timeout, HTTP error): a hang or a broken API. */
  failure?: string;
}

/** The instance's log lines about Redis as a whole (RedisHealth): outage and recovery. */
function redisLines(instance: Instance, what: 'is unavailable' | 'is available again'): Array<Record<string, unknown>> {
  return instance.proc.lines
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => typeof line.msg === 'string' && line.msg.startsWith('Redis at ') && line.msg.includes(` ${what}`));
}

async function readyz(instance: Instance): Promise<{ status: number; body: { error?: { code: string; details?: Record<string, unknown> } } }> {
  const res = await fetch(`${instance.url}/readyz`, { signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; details?: Record<string, unknown> } } };
}

async function channelByName(instance: Instance, name: string): Promise<string> {
  const login = await rest(instance.url, 'POST', '/api/v1/session', undefined, { password: OWNER_PASSWORD });
  assert.equal(login.status, 201);
  const list = await rest(instance.url, 'GET', '/api/v1/channels?limit=100', login.body.token as string);
  const found = (list.body.items as Array<{ id: string; name: string }>).find((c) => c.name === name);
  assert.ok(found, `no channel ${name}`);
  return found.id;
}

async function healthy(instance: Instance): Promise<boolean> {
  const res = await fetch(`${instance.url}/healthz`, { signal: AbortSignal.timeout(3000) });
  await res.arrayBuffer();
  return res.status === 200;
}

function publications(events: readonly SubEvent[]): number {
  return events.filter((e) => e.kind === 'publication').length;
}

describe('realtime cluster: Redis restarted under load', () => {
  let redis: RedisServer | undefined;
  let cluster: Cluster;
  let A: Instance;
  let B: Instance;

  before(async () => {
    redis = await RedisServer.start(await freePort());
    cluster = new Cluster({ configYaml: CONFIG, redisUrl: redis.url });
    await cluster.prepare();
    A = await cluster.start('A');
    B = await cluster.start('B');
  });
  after(async () => {
    try {
      await cluster?.cleanup();
    } finally {
      await redis?.kill();
    }
  });

  it('no process crashes, both reconnect, subscribers are resubscribed, and no subscriber has a silent gap', async () => {
    const subscribers: Array<{ name: string; events: SubEvent[]; notes: SubEvent[] }> = [];
    for (const [name, instance] of [['on A', A], ['on B', B]] as const) {
      const c = await cluster.client(instance.ws, `sub-${instance.name}`);
      const sub = c.newSubscription(CHANNEL);
      const notesSub = c.newSubscription(NOTES);
      const events = record(sub);
      const notes = record(notesSub);
      const done = Promise.all([waitEvent(sub, 'subscribed'), waitEvent(notesSub, 'subscribed')]);
      sub.subscribe();
      notesSub.subscribe();
      c.connect();
      await done;
      subscribers.push({ name, events, notes });
    }
    const wsPublisher: Centrifuge = await cluster.client(B.ws, 'publisher');
    const writer: Centrifuge = await cluster.client(A.ws, 'writer');
    const publishersUp = Promise.all([waitEvent<ConnectedContext>(wsPublisher, 'connected'), waitEvent<ConnectedContext>(writer, 'connected')]);
    wsPublisher.connect();
    writer.connect();
    await publishersUp;
    await writer.publish(NOTES, { body: 'before' });

    // The publisher: one server-API publish at a time, at most one per interval, A and B in turn.
    const sent: Sent[] = [];
    let stop = false;
    const publishing = (async () => {
      for (let seq = 1; seq <= 2000 && !stop; seq++) {
        const target = seq % 2 === 1 ? A : B;
        const entry: Sent = { seq, via: target.name, sentAt: Date.now(), doneAt: 0 };
        try {
          const answer = await api(target.url, 'publish', { channel: CHANNEL, data: { seq } }, 3000);
          if (answer.result) {
            entry.offset = answer.result.offset as number;
            entry.epoch = answer.result.epoch as string;
          } else entry.error = answer.error!;
        } catch (err) {
          entry.failure = String(err);
        }
        entry.doneAt = Date.now();
        sent.push(entry);
        const pause = entry.sentAt + PUBLISH_INTERVAL_MS - Date.now();
        if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      }
    })();

    try {
      await pollUntil(() => subscribers.every((s) => publications(s.events) >= 10), 10_000, 'ten publications on each subscriber before the kill');
      const oldEpoch = sent.find((s) => s.epoch)!.epoch!;

      const killAt = Date.now();
      await redis!.kill();
      await pollUntil(() => sent.filter((s) => s.doneAt >= killAt && s.error).length >= OUTAGE_FAILURES, 10_000, `${OUTAGE_FAILURES} failed publishes during the outage`);
      // A client publish during the outage gets an error reply at once (not a hang: the client's own timeout is 3 s).
      const started = Date.now();
      await assert.rejects(wsPublisher.publish(CHANNEL, { seq: -1 }), (err: { code: number; message: string }) => {
        assert.equal(err.code, 100);
        assert.equal(err.message, 'realtime back-end unavailable');
        return true;
      });
      assert.ok(Date.now() - started < 2000, `the publish error took ${Date.now() - started} ms`);
      assert.ok((await healthy(A)) && (await healthy(B)), 'both instances answer /healthz while Redis is down');
      for (const instance of [A, B]) {
        const ready = await readyz(instance);
        assert.equal(ready.status, 503, `${instance.name} /readyz while Redis is down`);
        assert.equal(ready.body.error?.code, 'NOT_READY');
        assert.equal(ready.body.error?.details?.check, 'redis');
      }
      // Persisted namespaces need only PostgreSQL: posts are committed and acknowledged during
      // the outage (over WebSocket on A, over REST on B); their fan-out has to wait for Redis.
      await writer.publish(NOTES, { body: 'during the outage, on A' });
      const channel = await channelByName(B, NOTES);
      const restPost = await rest(B.url, 'POST', `/api/v1/channels/${channel}/posts`, await sign({ sub: 'rest-writer' }), { body: 'during the outage, on B' });
      assert.equal(restPost.status, 201, JSON.stringify(restPost.body));

      await redis!.restart();
      const restartedAt = Date.now();
      await pollUntil(() => [A, B].every((i) => redisLines(i, 'is available again').length === 1), 15_000, 'both instances to reconnect every Redis connection');
      const reconnectedAt = Date.now();
      const newEpoch = await pollUntil(() => sent.find((s) => s.sentAt > restartedAt && s.epoch)?.epoch, 10_000, 'a publish to succeed after the restart');
      assert.notEqual(newEpoch, oldEpoch, 'Redis came back empty: a new epoch');
      await pollUntil(
        () =>
          subscribers.every(({ events }) => {
            const last = [...events].reverse().find((e) => e.kind === 'subscribed');
            return last?.kind === 'subscribed' && last.epoch === newEpoch && events.filter((e) => e.kind === 'publication' && e.at > last.at).length >= 10;
          }),
        15_000,
        'both subscribers to be resubscribed and receive ten publications after the restart',
      );
      stop = true;
      await publishing;
      // Nothing acknowledged is lost: the posts of the outage are recovered from the database.
      await pollUntil(() => subscribers.every((s) => publications(s.notes) >= 3), 10_000, 'the posts of the outage on both subscribers');
      for (const { name, notes } of subscribers) {
        const segs = segments(notes, `${name} (${NOTES})`);
        assert.deepEqual(
          segs.flatMap((seg) => seg.data.map((d) => (d as { body: string }).body)),
          ['before', 'during the outage, on A', 'during the outage, on B'],
        );
        assert.deepEqual(segs.map((seg) => seg.epoch), segs.map(() => channel), `${name}: the epoch of a persisted channel is its id`);
        assert.ok(segs.length >= 2 && segs.slice(1).every((seg) => seg.recovered), `${name}: recovered every post from the database`);
      }

      // Every answer was an offset or error 100, and errors only while Redis was away.
      assert.deepEqual(sent.filter((s) => s.failure), [], 'publishes that hung or failed without an API answer');
      const errors = sent.filter((s) => s.error);
      assert.ok(errors.length >= OUTAGE_FAILURES);
      for (const s of errors) {
        assert.equal(s.error!.code, 100, JSON.stringify(s));
        assert.equal(s.error!.message, 'realtime back-end unavailable', JSON.stringify(s));
        assert.ok(s.doneAt >= killAt && s.sentAt <= reconnectedAt, `an error outside the outage: ${JSON.stringify(s)}`);
      }
      const acked = sent.filter((s) => s.epoch);
      assert.deepEqual([...new Set(acked.map((s) => s.epoch))].sort(), [oldEpoch, newEpoch].sort());
      // Acks carry real, distinct, gapless positions: 1..n in each epoch.
      for (const epoch of [oldEpoch, newEpoch]) {
        const offsets = acked.filter((s) => s.epoch === epoch).map((s) => s.offset!);
        assert.deepEqual(offsets, Array.from({ length: offsets.length }, (_, i) => i + 1), `acked offsets of epoch ${epoch}`);
      }

      // Deliveries of the last publishes may still be on their way: wait for them (bounded). A
      // timeout is not an error here: the assertions below say precisely what is missing.
      await pollUntil(
        () => subscribers.every(({ events, name }) => acked.every((s) => accountedFor(segments(events, name), s.epoch!, s.offset!) !== 'missing')),
        5000,
        'every acknowledged publication to be received or reported lost',
      ).catch(() => undefined);
      for (const { name, events } of subscribers) {
        const segs = segments(events, name);
        assert.ok(segs.length >= 2, `${name} was resubscribed`);
        assert.equal(segs.at(-1)!.epoch, newEpoch, `${name} ends in the new epoch`);
        assert.ok(segs.slice(1).some((s) => !s.recovered), `${name} was told it could not recover the lost epoch`);
        // It stayed connected to Mycel: the resubscribes came from "insufficient state" (2500) pushes.
        const resubscribeCodes = events.filter((e) => e.kind === 'subscribing').slice(1).map((e) => (e as { code: number }).code);
        assert.ok(resubscribeCodes.length >= 1 && resubscribeCodes.every((c) => c === 2500), `${name} resubscribed with codes ${resubscribeCodes}`);
        assert.ok(!events.some((e) => e.kind === 'unsubscribed'), `${name} was unsubscribed for good`);
        const missing = acked.filter((s) => accountedFor(segs, s.epoch!, s.offset!) === 'missing');
        assert.deepEqual(
          missing.map((s) => [s.epoch === oldEpoch ? 'old' : 'new', s.offset, s.seq]),
          [],
          `${name}: acknowledged publications neither received nor reported lost; segments ${JSON.stringify(segs.map((g) => [g.epoch, g.start, g.end, g.recovered]))}`,
        );
        // What it received is what was acknowledged at that position (nothing invented or misplaced).
        for (const seg of segs) {
          seg.offsets.forEach((offset, i) => {
            const seq = (seg.data[i] as { seq: number }).seq;
            const ack = acked.find((s) => s.seq === seq);
            if (ack) assert.deepEqual([ack.epoch, ack.offset], [seg.epoch, offset], `${name}: seq ${seq}`);
          });
        }
      }

      // The outage was logged once per instance, and its end once; /readyz is back to 200.
      for (const instance of [A, B]) {
        assert.equal(redisLines(instance, 'is unavailable').length, 1, `${instance.name}: one line for the outage`);
        assert.equal(redisLines(instance, 'is available again').length, 1, `${instance.name}: one line for the recovery`);
        assert.equal((await readyz(instance)).status, 200, `${instance.name} /readyz after the restart`);
      }

      // Nothing crashed: the same processes are alive and answer.
      for (const instance of [A, B]) {
        assert.ok(instance.alive(), `${instance.name} exited: ${instance.proc.lines.slice(-5).join('\n')}`);
        assert.doesNotThrow(() => process.kill(instance.pid, 0), `${instance.name} has no process ${instance.pid}`);
        assert.ok(await healthy(instance), `${instance.name} answers /healthz`);
      }
    } finally {
      stop = true;
      await publishing;
    }
  });
});
