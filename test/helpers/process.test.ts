// The process helpers every e2e test builds on: a run's result holds everything it printed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runProcess } from './process.js';

test('runProcess keeps output that reaches the pipe after the process exited (a child still writing)', async () => {
  // The shell exits at once; its background child writes 300 ms later through the same pipes.
  const run = await runProcess('sh', ['-c', '(sleep 0.3; echo late-out; echo late-err >&2) & exit 3'], { env: process.env, timeoutMs: 10_000 });
  assert.equal(run.code, 3);
  assert.equal(run.stdout.toString(), 'late-out\n');
  assert.equal(run.stderr, 'late-err\n');
});

test('runProcess passes stdin and ends a process that outlives its time with SIGKILL', async () => {
  const echo = await runProcess('cat', [], { env: process.env, input: 'in' });
  assert.deepEqual([echo.code, echo.stdout.toString()], [0, 'in']);
  const slow = await runProcess('sleep', ['30'], { env: process.env, timeoutMs: 200 });
  assert.deepEqual([slow.code, slow.signal], [null, 'SIGKILL']);
});
