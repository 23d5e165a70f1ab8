import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactUrlQuery } from './log-serializers.js';

test('secret query parameters are redacted, the rest kept', () => {
  assert.equal(redactUrlQuery('/api/info?api_key=K&x=1'), '/api/info?api_key=[redacted]&x=1');
  assert.equal(redactUrlQuery('/connection/sse?cf_connect=%7B%22token%22%7D'), '/connection/sse?cf_connect=[redacted]');
  assert.equal(redactUrlQuery('/a?API_KEY=K'), '/a?API_KEY=[redacted]');
  assert.equal(redactUrlQuery('/a?api%5Fkey=K'), '/a?api%5Fkey=[redacted]');
  assert.equal(redactUrlQuery('/a?x=1&y=2'), '/a?x=1&y=2');
  assert.equal(redactUrlQuery('/plain'), '/plain');
  assert.equal(redactUrlQuery('/a?%E0%A4%A=1'), '/a?%E0%A4%A=1');
});
