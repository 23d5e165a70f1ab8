import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKOFF_BASE_MS, BACKOFF_CAP_MS, backoffDelay } from './backoff.js';

test('backoff: full jitter below base·2^attempt, capped at 30 s', () => {
  assert.equal(backoffDelay(0, () => 0), 0);
  assert.equal(backoffDelay(0, () => 0.999999), BACKOFF_BASE_MS - 1);
  assert.equal(backoffDelay(3, () => 0.5), (BACKOFF_BASE_MS * 8) / 2);
  assert.equal(backoffDelay(40, () => 0.999999), BACKOFF_CAP_MS - 1);
  for (let attempt = 0; attempt < 30; attempt++) {
    const d = backoffDelay(attempt);
    assert.ok(d >= 0 && d < Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt), `attempt ${attempt}: ${d}`);
  }
});
