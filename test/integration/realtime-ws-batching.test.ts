/**
 * The WebSocket transport's write batching on the wire: what one event-loop turn queues for a
 * socket goes out as one message, in order, and sockets with the same frames share the encoded
 * bytes (a one-entry cache across sockets) without ever getting another socket's batch.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { realtimeBackends, type RealtimeBackend } from '../helpers/realtime-backends.js';
import { sign, startRealtime, type RawClient, type RealtimeServer } from './realtime-harness.js';

const memory = realtimeBackends.find((f) => f.name === 'memory')!;

interface Pushed {
  channel: string;
  n: number;
}

/** The publications in one WebSocket message, in order. */
function pubsOf(message: string): Pushed[] {
  return message.split('\n').map((line) => {
    const push = (JSON.parse(line) as { push: { channel: string; pub: { data: { n: number } } } }).push;
    return { channel: push.channel, n: push.pub.data.n };
  });
}

describe('WebSocket write batching (memory)', () => {
  let backend: RealtimeBackend;
  let server: RealtimeServer;

  beforeEach(async () => {
    backend = await memory.create();
    server = await startRealtime({ backend });
  });
  afterEach(async () => {
    await server.close();
    await backend.cleanup();
  });

  async function subscriber(user: string, channels: string[]): Promise<RawClient> {
    const raw = await server.raw();
    raw.sendBatch([{ id: 1, connect: { token: await sign({ sub: user }) } }, ...channels.map((channel, i) => ({ id: i + 2, subscribe: { channel } }))]);
    for (let i = 0; i < channels.length; i++) assert.ok((await raw.reply(i + 2)).subscribe);
    return raw;
  }

  let barrierId = 1000;

  /**
   * Publishes in one turn (no await in between) and returns the messages each client got for
   * them: everything before the reply to a command sent afterwards, which the server writes in
   * a later turn, so nothing of the publications' turn can come after it.
   */
  async function publishInOneTurn(pubs: Pushed[], clients: RawClient[]): Promise<string[][]> {
    const before = clients.map((c) => c.messages.length);
    await Promise.all(pubs.map((p) => server.node.publish(p.channel, { n: p.n })));
    return Promise.all(
      clients.map(async (c, i) => {
        const id = ++barrierId;
        // No rpc handler is set: the reply is error 108, which is all a barrier needs.
        c.send({ id, rpc: { method: 'barrier' } });
        await c.reply(id);
        const upTo = c.messages.findIndex((m, k) => k >= before[i]! && m.includes(`"id":${id},`));
        assert.ok(upTo >= 0, 'the barrier reply arrived in a message');
        assert.deepEqual(JSON.parse(c.messages[upTo]!), { id, error: { code: 108, message: 'not available' } }, 'the barrier reply is a message of its own');
        return c.messages.slice(before[i], upTo);
      }),
    );
  }

  it('each socket gets exactly its frames of a turn, in order, as one message; equal batches are equal bytes', async () => {
    // Flush order follows the first write of the turn: a, b, c (x), then e (y).
    const a = await subscriber('a', ['nohist:x', 'nohist:y']);
    const b = await subscriber('b', ['nohist:x', 'nohist:y']);
    const c = await subscriber('c', ['nohist:x']);
    const e = await subscriber('e', ['nohist:y', 'nohist:z']);
    const x1 = { channel: 'nohist:x', n: 1 };
    const y2 = { channel: 'nohist:y', n: 2 };
    const x3 = { channel: 'nohist:x', n: 3 };
    const z4 = { channel: 'nohist:z', n: 4 };
    const got = await publishInOneTurn([x1, y2, x3, z4], [a, b, c, e]);
    assert.deepEqual(got.map((m) => m.length), [1, 1, 1, 1], 'one message per socket for the turn');
    assert.deepEqual(pubsOf(got[0]![0]!), [x1, y2, x3]);
    assert.equal(got[1]![0], got[0]![0], 'b got the same bytes as a');
    // c's batch follows a different one; e's has c's length but other frames.
    assert.deepEqual(pubsOf(got[2]![0]!), [x1, x3]);
    assert.deepEqual(pubsOf(got[3]![0]!), [y2, z4]);

    // The next turn starts clean: no frame of the previous batch comes again.
    const later = await publishInOneTurn([{ channel: 'nohist:x', n: 5 }], [a, b, c, e]);
    for (const messages of later.slice(0, 3)) assert.deepEqual(messages.map(pubsOf), [[{ channel: 'nohist:x', n: 5 }]]);
    assert.deepEqual(later[3], []);

    // The same single frame twice in a row for one socket is two frames, not a cache hit on the previous socket's.
    const twice = await publishInOneTurn([y2, y2], [a, e]);
    assert.deepEqual(pubsOf(twice[0]![0]!), [y2, y2]);
    assert.deepEqual(pubsOf(twice[1]![0]!), [y2, y2]);
  });
});
