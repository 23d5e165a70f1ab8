import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema } from '../config/schema.js';
import { namespaceChannelPolicy } from './channel-policy.js';
import { Namespaces } from './namespaces.js';

const config = configSchema.parse({
  realtime: {
    channel: { publish: 'owner', history: 'user' },
    namespaces: { chat: {}, feed: { publish: 'owner', history: 'anonymous' }, closed: { history: 'none', publish: 'none' } },
  },
});
const policy = namespaceChannelPolicy(new Namespaces(config.realtime));

test('reads follow the history level and writes the publish level of the namespace', () => {
  assert.equal(policy.allows('alice', 'read', 'chat:lobby'), true);
  assert.equal(policy.allows('alice', 'write', 'chat:lobby'), true);
  assert.equal(policy.allows('alice', 'read', 'feed:news'), true);
  assert.equal(policy.allows('alice', 'write', 'feed:news'), false);
  assert.equal(policy.allows('alice', 'read', 'lobby'), true);
  assert.equal(policy.allows('alice', 'write', 'lobby'), false);
  assert.equal(policy.allows('alice', 'read', 'closed:x'), false);
  assert.equal(policy.allows('alice', 'write', 'closed:x'), false);
});

test('private channels and unknown namespaces are closed to users', () => {
  assert.equal(policy.allows('alice', 'read', 'chat:$secret'), false);
  assert.equal(policy.allows('alice', 'write', 'chat:$secret'), false);
  assert.equal(policy.allows('alice', 'read', 'nope:x'), false);
  assert.equal(policy.allows('alice', 'read', ''), false);
});
