import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from '../lib/canonical-json.js';
import { GENESIS_HASH, changeHash, sealChange } from './changelog.js';

const draft = { originNodeId: 'n1', type: 'post.created' as const, payloadVersion: 1, payload: { b: 2, a: 1 }, createdAt: 1000 };

test('the first change links to the genesis hash and gets serial 1', () => {
  const c = sealChange({ serial: 0, hash: GENESIS_HASH }, draft);
  assert.equal(c.serial, 1);
  assert.equal(c.originSerial, 1);
  assert.equal(c.prevHash, GENESIS_HASH);
  assert.equal(c.hash, changeHash(GENESIS_HASH, c));
});

test('the hash covers every field and the previous hash', () => {
  const c = sealChange({ serial: 4, hash: 'ab'.repeat(32) }, draft);
  assert.notEqual(changeHash('cd'.repeat(32), c), c.hash);
  for (const mutate of [
    { serial: 6 },
    { originNodeId: 'n2' },
    { originSerial: 9 },
    { type: 'post.edited' as const },
    { payloadVersion: 2 },
    { payload: { a: 1, b: 3 } },
    { createdAt: 1001 },
  ]) {
    assert.notEqual(changeHash(c.prevHash, { ...c, ...mutate }), c.hash, JSON.stringify(mutate));
  }
});

test('key order in the payload does not change the hash', () => {
  const a = sealChange({ serial: 0, hash: GENESIS_HASH }, draft);
  const b = sealChange({ serial: 0, hash: GENESIS_HASH }, { ...draft, payload: { a: 1, b: 2 } });
  assert.equal(a.hash, b.hash);
});

test('an imported change keeps its origin serial', () => {
  const c = sealChange({ serial: 10, hash: GENESIS_HASH }, { ...draft, originNodeId: 'other', originSerial: 3 });
  assert.equal(c.serial, 11);
  assert.equal(c.originSerial, 3);
});

test('a payload encoded beforehand gives the same hash as encoding the whole change', () => {
  const payloads = [{}, { b: 2, a: 1 }, { post: { id: 'x', meta: { 'é': [1, null, 'two'], z: { y: true } }, body: 'line\n"quoted"' } }];
  for (const payload of payloads) {
    const c = sealChange({ serial: 41, hash: 'ab'.repeat(32) }, { ...draft, originSerial: 7, payload, createdAt: 1_700_000_000_123 });
    assert.equal(changeHash(c.prevHash, c, canonicalJson(payload)), c.hash);
    assert.deepEqual(sealChange({ serial: 41, hash: 'ab'.repeat(32) }, { ...draft, originSerial: 7, payload, createdAt: 1_700_000_000_123 }, canonicalJson(payload)), c);
  }
});
