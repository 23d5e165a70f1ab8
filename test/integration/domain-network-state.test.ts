// The node network's local state in the domain: servers added at run time (NetworkServers) and
// which channels a change touches (changeChannelNames), on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { OWNER } from '../../src/domain/actor.js';
import { changeChannelNames } from '../../src/domain/change-scope.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { MycelError } from '../../src/errors.js';
import { openTestCore } from '../helpers/core.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

function isValidation(field: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof MycelError && err.code === 'VALIDATION_FAILED', String(err));
    assert.equal(err.details?.field, field);
    return true;
  };
}

for (const backend of storageBackends) {
  describe(`node network state on ${backend.name}`, () => {
    let h: StorageHandle;
    let core: NodeCore;
    beforeEach(async () => {
      h = await backend.create();
      core = await openTestCore(h.storage);
    });
    afterEach(async () => {
      await core.close();
      await h.cleanup();
    });

    test('servers added at run time: validated, listed in order, kept across a reopen, removed', async () => {
      const one = await core.networkServers.add({ url: 'https://parent.example:8443', password: 's3cret' });
      assert.deepEqual([one.role, one.transport, one.url, one.password], ['child', 'auto', 'https://parent.example:8443', 's3cret']);
      const two = await core.networkServers.add({ url: 'http://127.0.0.1:5103', password: 'p', role: 'both', transport: 'sse' });
      assert.deepEqual((await core.networkServers.list()).map((s) => s.id), [one.id, two.id]);
      await assert.rejects(core.networkServers.add({ url: 'ftp://x', password: 'p' }), isValidation('url'));
      await assert.rejects(core.networkServers.add({ url: 'not a url', password: 'p' }), isValidation('url'));
      await assert.rejects(core.networkServers.add({ url: 'https://u:pw@x.example', password: 'p' }), isValidation('url'));
      await assert.rejects(core.networkServers.add({ url: 'https://x.example', password: '' }), isValidation('password'));
      await assert.rejects(core.networkServers.add({ url: 'https://x.example', password: 'p', role: 'sibling' as 'child' }), isValidation('role'));
      await assert.rejects(core.networkServers.add({ url: 'https://x.example', password: 'p', transport: 'carrier-pigeon' as 'sse' }), isValidation('transport'));
      await core.close();
      core = await openTestCore(h.open());
      assert.deepEqual(await core.networkServers.list(), [one, two]);
      assert.equal(await core.networkServers.remove(one.id), true);
      assert.equal(await core.networkServers.remove(one.id), false);
      assert.deepEqual(await core.networkServers.list(), [two]);
      assert.equal(await core.storage.countChanges(), 0, 'configuration, not content: nothing in the change log');
    });

    test('changeChannelNames names the local channel(s) of every kind of change', async () => {
      const a = await core.operator.createChannel(OWNER, { name: 'scope:a' });
      const b = await core.operator.createChannel(OWNER, { name: 'scope:b' });
      await core.operator.updateChannel(OWNER, a.id, { description: 'x' });
      const p = await core.operator.createPost(OWNER, { channelId: a.id, body: 'one' });
      const q = await core.operator.createPost(OWNER, { channelId: b.id, body: 'two' });
      await core.operator.editPost(OWNER, p.id, { body: 'one, edited' });
      const same = await core.operator.createLink(OWNER, { fromPostId: p.id, toPostId: p.id, label: 'self' });
      const across = await core.operator.createLink(OWNER, { fromPostId: p.id, toPostId: q.id });
      await core.operator.deleteLink(OWNER, across.id);
      await core.operator.deletePost(OWNER, q.id);
      const gone = await core.operator.createChannel(OWNER, { name: 'scope:gone' });
      await core.operator.createPost(OWNER, { channelId: gone.id, body: 'goes' });
      await core.operator.deleteChannel(OWNER, gone.id);
      const changes = await core.storage.getChanges(1, 100);
      const cache = new Map<string, string | null>();
      const names: Array<[string, string[]]> = [];
      for (const c of changes) names.push([c.type, await changeChannelNames(core.storage, c, cache)]);
      assert.deepEqual(names, [
        ['channel.created', ['scope:a']],
        ['channel.created', ['scope:b']],
        ['channel.updated', ['scope:a']],
        ['post.created', ['scope:a']],
        ['post.created', ['scope:b']],
        ['post.edited', ['scope:a']],
        ['link.created', ['scope:a']],
        ['link.created', ['scope:a', 'scope:b']],
        ['link.deleted', ['scope:a', 'scope:b']],
        ['post.deleted', ['scope:b']],
        // The channel is gone: channel.* and post.created are named by their payload, the rest not at all.
        ['channel.created', ['scope:gone']],
        ['post.created', ['scope:gone']],
        ['channel.deleted', ['scope:gone']],
      ]);
      assert.equal(same.label, 'self');
    });
  });
}
