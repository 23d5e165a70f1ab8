import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DisconnectError } from './codes.js';
import {
  encodeErrorReply,
  encodeJoinPush,
  encodePublicationPush,
  encodeReply,
  encodeUnsubscribePush,
  parseCommand,
  splitFrame,
} from './frames.js';

function badRequest(line: string): void {
  assert.throws(() => parseCommand(line), (e: unknown) => e instanceof DisconnectError && e.code === 3501, line);
}

describe('frames: parsing', () => {
  it('splits on newlines, skipping blank lines and trailing CR', () => {
    assert.deepEqual(splitFrame('{"id":1}\n\n  \r\n{"id":2}\r\n'), ['{"id":1}', '{"id":2}']);
    assert.deepEqual(splitFrame(''), []);
  });

  it('parses each method with snake_case fields into typed commands', () => {
    assert.deepEqual(parseCommand('{"id":1,"connect":{"token":"t","name":"js","subs":{"a":{"recover":true,"offset":3,"epoch":"e"}}}}'), {
      method: 'connect',
      id: 1,
      params: { token: 't', data: undefined, subs: { a: { recover: true, offset: 3, epoch: 'e' } }, name: 'js', version: '', headers: {} },
    });
    const sub = parseCommand('{"id":2,"subscribe":{"channel":"c","join_leave":true,"flag":3,"recover":true,"offset":7,"epoch":"x","future_field":1}}');
    assert.equal(sub.method, 'subscribe');
    if (sub.method === 'subscribe') {
      assert.equal(sub.params.joinLeave, true);
      assert.equal(sub.params.flag, 3);
      assert.equal(sub.params.offset, 7);
    }
    const hist = parseCommand('{"id":3,"history":{"channel":"c","limit":-1,"since":{"offset":2,"epoch":"e"},"reverse":true}}');
    assert.deepEqual(hist, { method: 'history', id: 3, params: { channel: 'c', limit: -1, since: { offset: 2, epoch: 'e' }, reverse: true } });
    assert.deepEqual(parseCommand('{"send":{"data":{"a":1}}}'), { method: 'send', id: 0, params: { data: { a: 1 } } });
    assert.deepEqual(parseCommand('{"id":4,"publish":{"channel":"c","data":null}}'), { method: 'publish', id: 4, params: { channel: 'c', data: null } });
  });

  it('reads {} and any id-0 command other than send as a pong', () => {
    assert.deepEqual(parseCommand('{}'), { method: 'pong', id: 0 });
    assert.deepEqual(parseCommand('{"id":0}'), { method: 'pong', id: 0 });
  });

  it('refuses malformed input with 3501', () => {
    for (const line of [
      '{',
      'null',
      '[]',
      '"str"',
      '{"id":"1","connect":{}}',
      '{"id":1.5,"connect":{}}',
      '{"id":-1,"connect":{}}',
      '{"id":1}',
      '{"id":1,"ping":{}}',
      '{"id":1,"subscribe":"c"}',
      '{"id":1,"subscribe":{"channel":1}}',
      '{"id":1,"subscribe":{"channel":"c","recover":"yes"}}',
      '{"id":1,"subscribe":{"channel":"c","offset":-2}}',
      '{"id":1,"history":{"channel":"c","since":[]}}',
      '{"id":1,"connect":{"headers":{"a":1}}}',
      '{"id":1,"connect":{"subs":{"a":1}}}',
      '{"id":99999999999,"connect":{}}',
    ]) {
      badRequest(line);
    }
  });
});

describe('frames: encoding', () => {
  it('always carries the result key and omits empty fields', () => {
    assert.equal(encodeReply(3, 'publish', {}), '{"id":3,"publish":{}}');
    assert.equal(encodeReply(4, 'presence_stats', { num_clients: 0, num_users: 0 }), '{"id":4,"presence_stats":{"num_clients":0,"num_users":0}}');
    assert.equal(encodeErrorReply(5, { code: 103, message: 'permission denied' }), '{"id":5,"error":{"code":103,"message":"permission denied"}}');
    assert.equal(encodeErrorReply(6, { code: 100, message: 'x', temporary: true }), '{"id":6,"error":{"code":100,"message":"x","temporary":true}}');
  });

  it('encodes pushes in snake_case, without offset 0, empty tags or missing info', () => {
    assert.equal(encodePublicationPush('ch', { offset: 0, data: { a: 1 } }), '{"push":{"channel":"ch","pub":{"data":{"a":1}}}}');
    assert.equal(
      encodePublicationPush('ch', { offset: 7, data: 'x', tags: {}, info: { user: 'u', client: 'c', connInfo: { n: 1 }, chanInfo: null } }),
      '{"push":{"channel":"ch","pub":{"data":"x","info":{"user":"u","client":"c","conn_info":{"n":1}},"offset":7}}}',
    );
    assert.equal(encodeJoinPush('ch', { user: '', client: 'c' }), '{"push":{"channel":"ch","join":{"info":{"user":"","client":"c"}}}}');
    assert.equal(encodeUnsubscribePush('a"b', 2000, 'server unsubscribe'), '{"push":{"channel":"a\\"b","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}');
    // No raw newline inside one object, whatever the data holds.
    assert.ok(!encodePublicationPush('c', { offset: 1, data: 'line1\nline2' }).includes('\n'));
  });
});
