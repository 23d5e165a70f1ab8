// Node identity on both databases: creation, restarts, owner password, remote owner node.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { ensureNodeIdentity } from '../../src/domain/node-identity.js';
import { MycelError } from '../../src/errors.js';
import { verifyPassword } from '../../src/lib/password.js';
import { createLogger, type Logger } from '../../src/log.js';
import { storageBackends } from '../helpers/storage.js';

function capturingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { log: createLogger({ level: 'info', destination: stream }), lines };
}

const REMOTE = '0190b5d2-1111-7000-8000-000000000001';

for (const backend of storageBackends) {
  describe(`node identity on ${backend.name}`, () => {
    test('node.id: a new node takes the given id (in lower case); a later start with another id is CONFIG_INVALID, with the same id or none it starts', async () => {
      const handle = await backend.create();
      try {
        const { log } = capturingLog();
        const id = '0191D3A2-6C1E-7B4F-9A2D-5E8F3C7B1A64';
        const first = await ensureNodeIdentity(handle.storage, { id, name: 'given' }, log);
        assert.equal(first.node.id, id.toLowerCase());
        assert.equal((await handle.storage.getNode())?.id, id.toLowerCase());
        assert.equal((await ensureNodeIdentity(handle.storage, { id }, log)).node.id, id.toLowerCase());
        assert.equal((await ensureNodeIdentity(handle.storage, {}, log)).node.id, id.toLowerCase());
        await assert.rejects(ensureNodeIdentity(handle.storage, { id: REMOTE }, log), (err: unknown) => err instanceof MycelError && err.code === 'CONFIG_INVALID' && (err.details as { key?: string }).key === 'node.id');
      } finally {
        await handle.cleanup();
      }
    });

    test('first start creates, later starts keep the name, check the password and keep the remote owner', async () => {
      const handle = await backend.create();
      try {
        const { log, lines } = capturingLog();
        const first = await ensureNodeIdentity(handle.storage, { name: 'alpha', ownerPassword: 'pw-1', remoteOwner: { nodeId: REMOTE, password: 'remote-1' } }, log);
        assert.equal(first.created, true);
        assert.equal(first.node.name, 'alpha');
        const client = await handle.storage.getClientNode(REMOTE);
        assert.equal(client?.asOwner, true);
        assert.deepEqual([client?.role, client?.writeAccess, client?.channels], ['both', 'read-write', []], 'the remote owner node may do everything');
        assert.equal(await verifyPassword('remote-1', client!.passwordHash), true);

        // A restart: another Storage on the same database, another name and remote password.
        const again = handle.open();
        const second = await ensureNodeIdentity(again, { name: 'beta', ownerPassword: 'pw-1', remoteOwner: { nodeId: REMOTE, password: 'remote-2' } }, log);
        assert.equal(second.created, false);
        assert.deepEqual([second.node.id, second.node.name], [first.node.id, 'alpha']);
        assert.ok(lines.some((l) => l.includes('ignoring the configured name') && l.includes('"configuredName":"beta"')));
        const kept = await again.getClientNode(REMOTE);
        assert.equal(await verifyPassword('remote-1', kept!.passwordHash), true, 'the remote password is not overwritten');
        assert.ok(!lines.some((l) => l.includes('pw-1') || l.includes('remote-1') || l.includes('remote-2')), 'no secret in the logs');

        await assert.rejects(ensureNodeIdentity(again, { ownerPassword: 'wrong' }, log), (err: unknown) => err instanceof MycelError && err.code === 'OWNER_PASSWORD_MISMATCH');
        // No password configured: the node starts with the stored one.
        assert.equal((await ensureNodeIdentity(again, {}, log)).node.id, first.node.id);
      } finally {
        await handle.cleanup();
      }
    });

    test('a node without a password takes the configured one, once', async () => {
      const handle = await backend.create();
      try {
        const { log, lines } = capturingLog();
        const bare = await ensureNodeIdentity(handle.storage, { name: 'n' }, log);
        assert.equal(bare.node.ownerPasswordHash, null);
        assert.ok(lines.some((l) => l.includes('owner login is disabled')));
        const set = await ensureNodeIdentity(handle.storage, { ownerPassword: 'now' }, log);
        assert.equal(await verifyPassword('now', set.node.ownerPasswordHash!), true);
        await assert.rejects(ensureNodeIdentity(handle.storage, { ownerPassword: 'later' }, log), /owner password does not match/);
      } finally {
        await handle.cleanup();
      }
    });
  });
}
