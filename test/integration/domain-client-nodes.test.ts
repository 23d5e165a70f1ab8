// The client-node registry and node log-in on both databases: owner-only registration, listing
// without hashes, changes, removal, sessions ended by a new password or removal, and log-in
// refusals that do not tell an unknown id from a wrong password, not even by their timing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { OWNER, type Actor } from '../../src/domain/actor.js';
import { channelPermitted, checkChannelPatterns } from '../../src/domain/client-nodes.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { NodeSessions } from '../../src/domain/node-sessions.js';
import { OwnerSessions } from '../../src/domain/owner-sessions.js';
import { MycelError, type ErrorCode } from '../../src/errors.js';
import { newId } from '../../src/lib/ids.js';
import { openTestCore } from '../helpers/core.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

const PASSWORD = 'node-secret-1';

const isCode = (code: ErrorCode) => (err: unknown) => {
  assert.ok(err instanceof MycelError, `expected MycelError ${code}, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return true;
};

describe('channel permissions of a client node', () => {
  test('empty covers all; a name itself; `ns:*` its namespace only', () => {
    assert.equal(channelPermitted([], 'anything:at-all'), true);
    assert.equal(channelPermitted(['lab:*'], 'lab:x'), true);
    assert.equal(channelPermitted(['lab:*'], 'lab'), false);
    assert.equal(channelPermitted(['lab:*'], 'labs:x'), false);
    assert.equal(channelPermitted(['lab:*'], 'x'), false);
    assert.equal(channelPermitted(['news'], 'news'), true);
    assert.equal(channelPermitted(['news'], 'news:x'), false);
    assert.equal(channelPermitted(['a:b'], 'a:b'), true);
    assert.equal(channelPermitted(['a:b'], 'a:c'), false);
  });

  test('patterns are checked and deduplicated', () => {
    assert.deepEqual(checkChannelPatterns(['a', 'ns:*', 'a', 'x:y']), ['a', 'ns:*', 'x:y']);
    for (const bad of [['*'], ['ns:*:*'], [''], ['has space'], [':*'], [1], 'a,b', [['a']]]) {
      assert.throws(() => checkChannelPatterns(bad), isCode('VALIDATION_FAILED'), JSON.stringify(bad));
    }
  });
});

for (const backend of storageBackends) {
  describe(`client nodes on ${backend.name}`, () => {
    let handle: StorageHandle;
    let core: NodeCore;
    before(async () => {
      handle = await backend.create();
      core = await openTestCore(handle.storage);
    });
    after(async () => {
      await core.close();
      await handle.cleanup();
    });

    test('the owner registers, lists, reads, changes and removes nodes; none of it enters the change log', async () => {
      const changesBefore = await core.storage.countChanges();
      const id = newId();
      const made = await core.clientNodes.register(OWNER, { nodeId: id.toUpperCase(), password: PASSWORD, channels: ['lab:*', 'news'] });
      assert.equal(made.id, id, 'ids are kept in lower case');
      assert.deepEqual({ ...made, createdAt: 0, updatedAt: 0 }, { id, asOwner: false, role: 'child', writeAccess: 'read-only', channels: ['lab:*', 'news'], createdAt: 0, updatedAt: 0 });
      assert.equal('passwordHash' in made, false);

      const listed = await core.clientNodes.list(OWNER);
      assert.deepEqual(listed.find((n) => n.id === id), made);
      for (const n of listed) assert.equal('passwordHash' in n, false, 'list never returns a hash');
      assert.deepEqual(await core.clientNodes.get(OWNER, id), made);

      const { node: changed, endedSessions } = await core.clientNodes.set(OWNER, id, { role: 'both', asOwner: true, writeAccess: 'read-write', channels: [] });
      assert.equal(endedSessions, 0);
      assert.deepEqual({ ...changed, updatedAt: 0 }, { ...made, role: 'both', asOwner: true, writeAccess: 'read-write', channels: [], updatedAt: 0 });
      assert.ok(changed.updatedAt >= made.updatedAt);
      assert.deepEqual(await core.clientNodes.get(OWNER, id), changed);

      await assert.rejects(core.clientNodes.register(OWNER, { nodeId: id, password: 'another-password' }), isCode('NODE_EXISTS'));
      await core.clientNodes.remove(OWNER, id);
      await assert.rejects(core.clientNodes.get(OWNER, id), isCode('NODE_NOT_FOUND'));
      await assert.rejects(core.clientNodes.set(OWNER, id, { role: 'parent' }), isCode('NODE_NOT_FOUND'));
      await assert.rejects(core.clientNodes.remove(OWNER, id), isCode('NODE_NOT_FOUND'));
      assert.equal(await core.storage.countChanges(), changesBefore, 'client-node registration is not replicated content');
    });

    test('bad input is VALIDATION_FAILED and changes nothing', async () => {
      const before = await core.clientNodes.list(OWNER);
      const rows: Array<[string, () => Promise<unknown>]> = [
        ['id not a UUID', () => core.clientNodes.register(OWNER, { nodeId: 'node-1', password: PASSWORD })],
        ['short password', () => core.clientNodes.register(OWNER, { nodeId: newId(), password: 'short' })],
        ['unknown role', () => core.clientNodes.register(OWNER, { nodeId: newId(), password: PASSWORD, role: 'sibling' as 'child' })],
        ['unknown access', () => core.clientNodes.register(OWNER, { nodeId: newId(), password: PASSWORD, writeAccess: 'all' as 'read-only' })],
        ['bad pattern', () => core.clientNodes.register(OWNER, { nodeId: newId(), password: PASSWORD, channels: ['a b'] })],
        ['get by a non-UUID', () => core.clientNodes.get(OWNER, '../etc')],
      ];
      for (const [name, run] of rows) await assert.rejects(run(), isCode('VALIDATION_FAILED'), name);
      assert.deepEqual(await core.clientNodes.list(OWNER), before);
    });

    test('only owner-equivalent actors manage nodes', async () => {
      const target = newId();
      await core.clientNodes.register(OWNER, { nodeId: target, password: PASSWORD });
      const refused: Actor[] = [
        { kind: 'user', userId: 'u1' },
        { kind: 'node', nodeId: newId(), asOwner: false },
      ];
      for (const actor of refused) {
        await assert.rejects(core.clientNodes.list(actor), isCode('FORBIDDEN'));
        await assert.rejects(core.clientNodes.get(actor, target), isCode('FORBIDDEN'));
        await assert.rejects(core.clientNodes.register(actor, { nodeId: newId(), password: PASSWORD }), isCode('FORBIDDEN'));
        await assert.rejects(core.clientNodes.set(actor, target, { asOwner: true }), isCode('FORBIDDEN'));
        await assert.rejects(core.clientNodes.remove(actor, target), isCode('FORBIDDEN'));
      }
      assert.equal((await core.clientNodes.get(OWNER, target)).asOwner, false);
      // A node registered with owner rights operates this node as its owner.
      const ownerNode: Actor = { kind: 'node', nodeId: newId(), asOwner: true };
      assert.equal((await core.clientNodes.set(ownerNode, target, { role: 'parent' })).node.role, 'parent');
    });

    test('a node logs in; its token resolves to a node actor with the rights it was registered with', async () => {
      const id = newId();
      await core.clientNodes.register(OWNER, { nodeId: id, password: PASSWORD });
      const issued = await core.nodeSessions.login(id, PASSWORD);
      assert.match(issued.token, /^[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(await core.sessions.resolve(issued.token), { kind: 'node', nodeId: id, asOwner: false });
      await core.clientNodes.set(OWNER, id, { asOwner: true });
      assert.deepEqual(await core.sessions.resolve(issued.token), { kind: 'node', nodeId: id, asOwner: true }, 'rights are read at each request');
      await core.sessions.logout(issued.token);
      assert.equal(await core.sessions.resolve(issued.token), null);
    });

    test('an unknown id, a malformed id and a wrong password get the same answer', async () => {
      const id = newId();
      await core.clientNodes.register(OWNER, { nodeId: id, password: PASSWORD });
      for (const [nodeId, password] of [[id, 'wrong-password'], [newId(), PASSWORD], ['not-a-uuid', PASSWORD], [id, '']] as const) {
        await assert.rejects(core.nodeSessions.login(nodeId, password), (err: unknown) => {
          isCode('INVALID_CREDENTIALS')(err);
          assert.equal((err as MycelError).details, undefined, 'nothing tells which part was wrong');
          return true;
        });
      }
    });

    test('an unknown id costs the same password hashing as a wrong password', async () => {
      const id = newId();
      await core.clientNodes.register(OWNER, { nodeId: id, password: PASSWORD });
      const median = async (nodeId: string): Promise<number> => {
        const times: number[] = [];
        for (let i = 0; i < 5; i++) {
          const start = performance.now();
          await core.nodeSessions.login(nodeId, 'wrong-password').catch(() => undefined);
          times.push(performance.now() - start);
        }
        return times.sort((a, b) => a - b)[2]!;
      };
      const wrong = await median(id);
      const unknown = await median(newId());
      console.log(`# ${backend.name}: node login, median of 5: wrong password ${wrong.toFixed(1)} ms, unknown id ${unknown.toFixed(1)} ms`);
      // Without the dummy hash an unknown id answers after one lookup (~1 ms), against scrypt's tens of ms.
      assert.ok(unknown > wrong * 0.25 && unknown < wrong * 4, `unknown ${unknown} ms vs wrong ${wrong} ms`);
    });

    test('a new password or removal ends the node\'s sessions; other changes keep them', async () => {
      const id = newId();
      const other = newId();
      await core.clientNodes.register(OWNER, { nodeId: id, password: PASSWORD });
      await core.clientNodes.register(OWNER, { nodeId: other, password: PASSWORD });
      const otherToken = (await core.nodeSessions.login(other, PASSWORD)).token;

      const first = (await core.nodeSessions.login(id, PASSWORD)).token;
      await core.clientNodes.set(OWNER, id, { role: 'both', channels: ['x:*'] });
      assert.notEqual(await core.sessions.resolve(first), null, 'a change of rights keeps the session');
      const { endedSessions } = await core.clientNodes.set(OWNER, id, { password: 'new-node-secret' });
      assert.equal(endedSessions, 1);
      assert.equal(await core.sessions.resolve(first), null);
      await assert.rejects(core.nodeSessions.login(id, PASSWORD), isCode('INVALID_CREDENTIALS'));

      const second = (await core.nodeSessions.login(id, 'new-node-secret')).token;
      assert.deepEqual(await core.clientNodes.remove(OWNER, id), { endedSessions: 1 });
      assert.equal(await core.sessions.resolve(second), null);
      await assert.rejects(core.nodeSessions.login(id, 'new-node-secret'), isCode('INVALID_CREDENTIALS'));
      assert.notEqual(await core.sessions.resolve(otherToken), null, 'other nodes keep their sessions');
    });

    test('a node session expires after sessionMinutes: SESSION_EXPIRED, and a new log-in works', async () => {
      let now = Date.now();
      const clock = () => now;
      const nodeSessions = new NodeSessions(handle.storage, 1, clock);
      const sessions = new OwnerSessions(handle.storage, 1, clock);
      const id = newId();
      await core.clientNodes.register(OWNER, { nodeId: id, password: PASSWORD });
      const issued = await nodeSessions.login(id, PASSWORD);
      assert.equal(issued.expiresAt, now + 60_000);
      now += 59_999;
      assert.equal((await sessions.resolve(issued.token))?.kind, 'node');
      now += 1;
      await assert.rejects(sessions.resolve(issued.token), isCode('SESSION_EXPIRED'));
      const again = await nodeSessions.login(id, PASSWORD);
      assert.equal((await sessions.resolve(again.token))?.kind, 'node');
    });
  });
}
