import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from './canonical-json.js';

test('sorts keys at every depth and drops undefined members', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: null }], c: 'x' }, u: undefined }), '{"a":{"c":"x","d":[1,{"y":null,"z":0}]},"b":1}');
});

test('same value in another key order gives the same text', () => {
  assert.equal(canonicalJson({ x: 1, y: [true, 'é'] }), canonicalJson({ y: [true, 'é'], x: 1 }));
});

test('refuses values JSON cannot carry faithfully', () => {
  assert.throws(() => canonicalJson({ n: Number.NaN }), TypeError);
  assert.throws(() => canonicalJson({ n: Infinity }), TypeError);
  assert.throws(() => canonicalJson(() => 1), TypeError);
});
