import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { canonicalJson } from './canonical-json.js';

/** The definition, written the plain way: every object's keys sorted, members encoded recursively. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : reference(v))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const members = Object.keys(obj)
      .sort()
      .filter((k) => obj[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

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

test('equals the plain definition for any JSON value, keys in any order, and parses back to it', () => {
  // Keys that sort unlike their insertion order: integer-like ones (listed first by
  // Object.keys), upper before lower case, non-ASCII, a prefix of another, the empty key.
  const key = fc.oneof(fc.constantFrom('', 'a', 'A', 'ab', 'b', '10', '9', '0', 'é', 'z', '__proto_', 'id', 'post'), fc.string({ maxLength: 6 }));
  const value = fc.letrec((tie) => ({
    json: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string(),
      fc.array(tie('json'), { maxLength: 4 }),
      fc.dictionary(key, tie('json'), { maxKeys: 6 }),
    ),
  })).json;
  fc.assert(
    fc.property(value, (v) => {
      const text = canonicalJson(v);
      assert.equal(text, reference(v));
      assert.equal(canonicalJson(JSON.parse(text)), text);
    }),
    { numRuns: 2000 },
  );
});

test('quotes keys beyond the ones it remembers the same way', () => {
  for (let i = 0; i < 3000; i++) {
    const k = `key "${i}" é\n`;
    assert.equal(canonicalJson({ [k]: i, a: 1 }), `{${JSON.stringify('a')}:1,${JSON.stringify(k)}:${i}}`);
  }
});
