import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { findDuplicateKey } from './json-duplicate-key.js';

test('findDuplicateKey: repeated keys in one object', () => {
  assert.equal(findDuplicateKey('{"a":1,"a":2}'), 'a');
  assert.equal(findDuplicateKey('{"a":1,"b":{"c":1,"c":[2]}}'), 'c');
  assert.equal(findDuplicateKey('[{"x":1},{"y":1,"y":2}]'), 'y');
  assert.equal(findDuplicateKey(' { "k" : 1 , "k" : 1 } '), 'k');
  // Escapes are decoded: \u0061 is "a".
  assert.equal(findDuplicateKey('{"a":1,"\\u0061":2}'), 'a');
  assert.equal(findDuplicateKey('{"pass\\"word":1,"pass\\"word":2}'), 'pass"word');
  // Pipelines (newline-delimited JSON) are scanned line by line alike.
  assert.equal(findDuplicateKey('{"method":"info"}\n{"method":"a","method":"b"}'), 'method');
});

test('findDuplicateKey: no false reports', () => {
  assert.equal(findDuplicateKey('{"a":1,"b":2}'), null);
  // The same key in sibling or nested objects is fine.
  assert.equal(findDuplicateKey('{"a":{"a":{"a":1}},"b":{"a":2}}'), null);
  assert.equal(findDuplicateKey('[{"a":1},{"a":2}]'), null);
  // Values equal to keys, and keys inside string values, are not keys.
  assert.equal(findDuplicateKey('{"a":"a","b":"{\\"b\\":1,\\"b\\":2}"}'), null);
  assert.equal(findDuplicateKey('{"a\\\\":1,"a":2}'), null);
  assert.equal(findDuplicateKey('{"a":[1,"a",{"b":1}],"b":1}'), null);
  // Not JSON: left to the parser.
  assert.equal(findDuplicateKey('{"a":1,"a'), null);
  assert.equal(findDuplicateKey(''), null);
  assert.equal(findDuplicateKey('}}]]{"a"'), null);
});

test('findDuplicateKey agrees with JSON.parse on generated JSON (property)', () => {
  // Without duplicates, JSON.stringify of any value reports none; adding a repeated key to
  // some object is always found.
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      assert.equal(findDuplicateKey(JSON.stringify(value)), null);
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }), fc.jsonValue(), (object, other) => {
      const key = Object.keys(object)[0]!;
      const text = JSON.stringify(object);
      const withDuplicate = `${text.slice(0, -1)},${JSON.stringify(key)}:${JSON.stringify(other)}}`;
      assert.equal(findDuplicateKey(withDuplicate), key);
      assert.equal(findDuplicateKey(JSON.stringify({ wrap: [JSON.parse(withDuplicate) as unknown, withDuplicate] })), null);
    }),
    { numRuns: 300 },
  );
});
