import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MycelError } from '../errors.js';
import { toMycelError } from './errors.js';
import { originOf } from './origin.js';

function fastifyError(code: string, statusCode: number, message = 'x'): Error {
  return Object.assign(new Error(message), { code, statusCode });
}

test('fastify client errors map onto registry codes, never INTERNAL', () => {
  const cases: Array<[Error, string]> = [
    [fastifyError('FST_ERR_CTP_INVALID_JSON_BODY', 400), 'BAD_JSON'],
    [fastifyError('FST_ERR_CTP_EMPTY_JSON_BODY', 400), 'BAD_JSON'],
    [fastifyError('FST_ERR_CTP_BODY_TOO_LARGE', 413), 'BODY_TOO_LARGE'],
    [fastifyError('FST_ERR_CTP_INVALID_MEDIA_TYPE', 415), 'UNSUPPORTED_MEDIA_TYPE'],
    [fastifyError('FST_ERR_CTP_INVALID_CONTENT_LENGTH', 400), 'VALIDATION_FAILED'],
    [fastifyError('FST_ERR_BAD_URL', 400), 'VALIDATION_FAILED'],
    [fastifyError('SOME_PLUGIN_ERR', 429), 'RATE_LIMITED'],
    [fastifyError('SOME_PLUGIN_ERR', 418), 'VALIDATION_FAILED'],
  ];
  for (const [err, code] of cases) {
    const { error, internal } = toMycelError(err);
    assert.equal(error.code, code, (err as Error & { code: string }).code);
    assert.equal(internal, false);
  }
});

test('schema validation errors name the location and the field, each unknown key on its own', () => {
  const err = Object.assign(new Error('bad'), {
    statusCode: 400,
    validationContext: 'body',
    validation: [
      { instancePath: '/meta/tags/0', message: 'expected string' },
      { instancePath: '', message: 'Unrecognized keys', params: { keys: ['colour', 'size'] } },
    ],
  });
  const { error } = toMycelError(err);
  assert.equal(error.code, 'VALIDATION_FAILED');
  assert.equal(error.message, 'body.meta.tags.0: expected string');
  assert.deepEqual(error.details, {
    location: 'body',
    field: 'meta.tags.0',
    path: 'body.meta.tags.0',
    issues: [
      { field: 'meta.tags.0', path: 'body.meta.tags.0', message: 'expected string' },
      { field: 'colour', path: 'body.colour', message: 'Unrecognized keys' },
      { field: 'size', path: 'body.size', message: 'Unrecognized keys' },
    ],
  });
});

test('the body as a whole is `body`; its field `body` is `body.body`', () => {
  const whole = toMycelError(
    Object.assign(new Error('bad'), { statusCode: 400, validationContext: 'body', validation: [{ instancePath: '', message: 'Invalid input: expected object, received array' }] }),
  ).error;
  assert.equal(whole.message, 'body: must be a JSON object, not an array');
  assert.deepEqual({ field: whole.details?.field, path: whole.details?.path }, { field: '', path: 'body' });
  const field = toMycelError(
    Object.assign(new Error('bad'), { statusCode: 400, validationContext: 'body', validation: [{ instancePath: '/body', message: 'Invalid input: expected string, received number' }] }),
  ).error;
  assert.equal(field.message, 'body.body: must be a string, not a number');
  assert.deepEqual({ field: field.details?.field, path: field.details?.path }, { field: 'body', path: 'body.body' });
});

test('registry errors pass through; anything else is INTERNAL', () => {
  const known = new MycelError('POST_NOT_FOUND', { id: 'x' });
  assert.deepEqual(toMycelError(known), { error: known, internal: false });
  assert.equal(toMycelError(new MycelError('STORAGE_UNAVAILABLE')).internal, true, '5xx registry errors are logged');
  assert.equal(toMycelError(new MycelError('SHUTTING_DOWN')).internal, false, 'shutting down is expected');
  for (const thrown of [new TypeError('boom'), 'a string', null, undefined, 42, fastifyError('FST_ERR_SOMETHING', 500)]) {
    const { error, internal } = toMycelError(thrown);
    assert.equal(error.code, 'INTERNAL');
    assert.equal(internal, true);
    assert.equal(error.details, undefined, 'nothing of the original error leaks');
  }
});

test('originOf normalises http(s) URLs and refuses the rest', () => {
  assert.equal(originOf('https://Example.COM:443/path?q'), 'https://example.com');
  assert.equal(originOf('http://127.0.0.1:5103'), 'http://127.0.0.1:5103');
  assert.equal(originOf('http://[::1]:80/'), 'http://[::1]');
  for (const bad of ['null', '', 'example.com', 'file:///etc/passwd', 'javascript:alert(1)', 'http://']) assert.equal(originOf(bad), null, bad);
});
