import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../log.js';
import { redactRedisUrl, RedisHealth } from './redis-health.js';

function capture(): { lines: Array<Record<string, unknown>>; health: RedisHealth } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const health = new RedisHealth('redis://user:s3cret@redis.internal:6380/2', createLogger({ level: 'debug', destination: sink }));
  return { lines, health };
}

test('redactRedisUrl hides the password and keeps the rest', () => {
  assert.equal(redactRedisUrl('redis://user:s3cret@redis.internal:6380/2'), 'redis://user:***@redis.internal:6380/2');
  assert.equal(redactRedisUrl('redis://:s3cret@127.0.0.1:6379'), 'redis://:***@127.0.0.1:6379');
  assert.equal(redactRedisUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  assert.equal(redactRedisUrl('not a url'), 'redis://(unparsable URL)');
});

test('connecting is not ready but no outage; ready once every connection is up', () => {
  const { lines, health } = capture();
  health.register('bus');
  health.register('presence');
  assert.deepEqual(health.check(), {
    ready: false,
    reason: 'Redis is not connected yet (connections: bus, presence); realtime publish, subscribe, presence and history fail',
  });
  health.up('bus');
  assert.equal(health.check().ready, false);
  health.up('presence');
  assert.deepEqual(health.check(), { ready: true });
  assert.deepEqual(lines, [], 'a normal start logs nothing');
});

test('an outage is one error line, failed attempts are counted, the recovery is one info line once all are back', () => {
  const { lines, health } = capture();
  for (const role of ['bus', 'bus-subscriber', 'presence']) {
    health.register(role);
    health.up(role);
  }
  // A reply error on a live connection is not an outage.
  health.failedAttempt('bus', 'ERR something');
  assert.equal(health.isDown, false);

  health.down('bus', 'connection closed');
  health.down('bus-subscriber', 'connection closed');
  health.down('presence', 'connection closed');
  for (let i = 0; i < 50; i++) health.failedAttempt(i % 2 ? 'bus' : 'presence', 'connect ECONNREFUSED');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.level, 50);
  assert.equal(
    lines[0]!.msg,
    'Redis at redis://user:***@redis.internal:6380/2 is unavailable (connection closed): realtime publish, subscribe, presence and history fail at once with a temporary error until it is back',
  );
  const state = health.check();
  assert.equal(state.ready, false);
  assert.ok(!state.ready && state.reason.startsWith('Redis is unavailable (connections: bus, bus-subscriber, presence)'), JSON.stringify(state));
  assert.ok(!JSON.stringify(state).includes('6380'), 'the public reason names no address');

  health.up('bus');
  health.up('bus-subscriber');
  assert.equal(lines.length, 1, 'not back while presence is down');
  health.up('presence');
  assert.equal(lines.length, 2);
  assert.equal(lines[1]!.level, 30);
  assert.equal(lines[1]!.msg, 'Redis at redis://user:***@redis.internal:6380/2 is available again; realtime back-ends work again');
  assert.equal(lines[1]!.failedAttempts, 50);
  assert.deepEqual(health.check(), { ready: true });
  assert.ok(!JSON.stringify(lines).includes('s3cret'));
});
