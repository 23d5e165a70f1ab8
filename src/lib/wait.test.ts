import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitAtMost } from './wait.js';

test('waitAtMost resolves as soon as the promise does', async () => {
  const started = performance.now();
  await waitAtMost(Promise.resolve('done'), 10_000);
  assert.ok(performance.now() - started < 1000);
});

test('waitAtMost resolves once the time is up when the promise never settles', async () => {
  // waitAtMost's own timer is unref'd: something else must keep this process alive meanwhile.
  const keepAlive = setTimeout(() => {}, 10_000);
  try {
    const started = performance.now();
    await waitAtMost(new Promise(() => {}), 50);
    const waited = performance.now() - started;
    assert.ok(waited >= 45 && waited < 5000, `waited ${waited} ms`);
  } finally {
    clearTimeout(keepAlive);
  }
});

test('waitAtMost passes a rejection on', async () => {
  await assert.rejects(waitAtMost(Promise.reject(new Error('boom')), 10_000), /boom/);
});
