import assert from 'node:assert/strict';
import { test } from 'node:test';
import { interpolate } from './interpolate.js';

const env = { HOST: 'db.local', EMPTY: '', PW: 's3cret' };

test('references are replaced as a whole value or inside one', () => {
  assert.deepEqual(interpolate('${HOST}', env), { ok: true, value: 'db.local', substituted: true });
  assert.deepEqual(interpolate('postgres://me:${PW}@${HOST}:5432/x', env), {
    ok: true,
    value: 'postgres://me:s3cret@db.local:5432/x',
    substituted: true,
  });
});

test('text without references is left alone, $ included', () => {
  assert.deepEqual(interpolate('a $HOST b $ c $$ d {x}', env), { ok: true, value: 'a $HOST b $ c $$ d {x}', substituted: false });
});

test('a default applies when the variable is unset or empty, not when it is set', () => {
  assert.equal(ok(interpolate('${NOPE:-5103}', env)), '5103');
  assert.equal(ok(interpolate('${EMPTY:-fallback}', env)), 'fallback');
  assert.equal(ok(interpolate('${HOST:-other}', env)), 'db.local');
  assert.equal(ok(interpolate('${NOPE:-}', env)), '');
  assert.equal(ok(interpolate('${NOPE:-a:-b c}', env)), 'a:-b c');
});

test('a set but empty variable without default is empty', () => {
  assert.equal(ok(interpolate('x${EMPTY}y', env)), 'xy');
});

test('$${ is a literal ${', () => {
  assert.deepEqual(interpolate('$${HOST} and ${HOST}', env), { ok: true, value: '${HOST} and db.local', substituted: true });
  assert.deepEqual(interpolate('cost: $${', env), { ok: true, value: 'cost: ${', substituted: false });
});

test('an unset variable without default is reported by name', () => {
  assert.deepEqual(interpolate('a ${HOST} ${MISSING_ONE} ${ALSO}', env), { ok: false, reason: 'missing', variable: 'MISSING_ONE' });
});

test('malformed references are errors, not text', () => {
  for (const text of ['${', 'x ${HOST', '${}', '${1ABC}', '${A-B}', '${A:-${B}}', '${ HOST }', '${A:default}']) {
    const result = interpolate(text, env);
    assert.equal(result.ok, false, text);
    assert.equal(result.ok === false && result.reason, 'malformed', text);
  }
});

function ok(result: ReturnType<typeof interpolate>): string {
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}
