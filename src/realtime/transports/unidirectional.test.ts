import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DISCONNECTS, ERRORS } from '../protocol/codes.js';
import { encodeDisconnectPush, encodeErrorReply, encodePublicationPush, encodeReply, PING_FRAME } from '../protocol/frames.js';
import { encodeUniDisconnect, uniConnectCommand, uniConnectErrorDisconnect, UniTranslator } from './unidirectional.js';
import { SSE_FORMAT } from './response-stream.js';

test('session output becomes bare pushes: connect reply, pushes and pings, in order', () => {
  const t = new UniTranslator();
  const frame = [
    encodeReply(1, 'connect', { client: 'c1', version: '1', ping: 25 }),
    encodePublicationPush('news', { offset: 3, data: { a: 1 } }),
    PING_FRAME,
  ].join('\n');
  assert.deepEqual(t.translate(frame), ['{"connect":{"client":"c1","version":"1","ping":25}}', '{"channel":"news","pub":{"data":{"a":1},"offset":3}}', '{}']);
  for (const line of t.translate(frame)) JSON.parse(line);
  // A connect error produces no output (the session is closed with a disconnect instead).
  assert.deepEqual(t.translate(encodeErrorReply(1, ERRORS.tokenExpired)), []);
  assert.deepEqual(t.translate(encodeDisconnectPush(3001, 'shutdown')), ['{"disconnect":{"code":3001,"reason":"shutdown"}}']);
  assert.equal(encodeUniDisconnect(3001, 'shutdown'), '{"disconnect":{"code":3001,"reason":"shutdown"}}');
});

test('a bare ConnectRequest becomes a one-line connect command; anything but an object is refused', () => {
  assert.equal(uniConnectCommand(''), '{"id":1,"connect":{}}');
  assert.equal(uniConnectCommand('{\n  "token": "t"\n}'), '{"id":1,"connect":{"token":"t"}}');
  assert.equal(uniConnectCommand('[1]'), null);
  assert.equal(uniConnectCommand('"x"'), null);
  assert.equal(uniConnectCommand('{"token":'), null);
});

test('connect reply errors map to disconnects: expired reconnects, mistakes are terminal', () => {
  assert.equal(uniConnectErrorDisconnect(ERRORS.tokenExpired.code), DISCONNECTS.expired);
  assert.equal(uniConnectErrorDisconnect(ERRORS.tooManyRequests.code), DISCONNECTS.tooManyRequests);
  assert.equal(uniConnectErrorDisconnect(ERRORS.permissionDenied.code), DISCONNECTS.permissionDenied);
  assert.equal(uniConnectErrorDisconnect(ERRORS.unknownChannel.code), DISCONNECTS.badRequest);
  assert.equal(uniConnectErrorDisconnect(ERRORS.internal.code), DISCONNECTS.internal);
});

test('SSE framing: one data: event per line', () => {
  assert.equal(SSE_FORMAT.frame('{"a":1}'), 'data: {"a":1}\n\n');
  assert.equal(SSE_FORMAT.frame('{"a":1}\n{}'), 'data: {"a":1}\n\ndata: {}\n\n');
});
