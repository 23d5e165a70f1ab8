import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema } from '../config/schema.js';
import { levelAllows, Namespaces } from './namespaces.js';
import { ReplyError } from './protocol/codes.js';

const realtime = configSchema.parse({ realtime: { namespaces: { chat: { publish: 'anonymous' }, ops: { subscribe: 'owner', history: 'none' } } } }).realtime;
const ns = new Namespaces(realtime);

describe('Namespaces', () => {
  it('resolves namespaces, the default namespace and private channels', () => {
    assert.deepEqual(
      (({ namespace, name, private: p }) => ({ namespace, name, p }))(ns.resolve('chat:room')),
      { namespace: 'chat', name: 'room', p: false },
    );
    assert.equal(ns.resolve('chat:$room').private, true);
    assert.equal(ns.resolve('$lobby').private, true);
    assert.equal(ns.resolve('lobby').namespace, '');
    assert.equal(ns.resolve('chat:a:b').name, 'a:b');
  });

  it('refuses unknown namespaces (102) and bad names (107)', () => {
    assert.throws(() => ns.resolve('nope:x'), (e: unknown) => e instanceof ReplyError && e.code === 102);
    for (const bad of ['', 'chat:', 'x'.repeat(256)]) assert.throws(() => ns.resolve(bad), (e: unknown) => e instanceof ReplyError && e.code === 107);
  });

  it('applies access levels', () => {
    const anon = { user: '', owner: false };
    const user = { user: 'u', owner: false };
    const owner = { user: 'owner', owner: true };
    assert.deepEqual([anon, user, owner].map((a) => levelAllows('none', a)), [false, false, false]);
    assert.deepEqual([anon, user, owner].map((a) => levelAllows('owner', a)), [false, false, true]);
    assert.deepEqual([anon, user, owner].map((a) => levelAllows('user', a)), [false, true, true]);
    assert.deepEqual([anon, user, owner].map((a) => levelAllows('anonymous', a)), [true, true, true]);
    assert.doesNotThrow(() => ns.check(ns.resolve('chat:x'), 'publish', anon));
    assert.throws(() => ns.check(ns.resolve('chat:x'), 'subscribe', anon), (e: unknown) => e instanceof ReplyError && e.code === 103);
    assert.throws(() => ns.check(ns.resolve('ops:x'), 'subscribe', user), (e: unknown) => e instanceof ReplyError && e.code === 103);
    assert.throws(() => ns.check(ns.resolve('ops:x'), 'history', owner), (e: unknown) => e instanceof ReplyError && e.code === 103);
  });
});

describe('Namespaces: undeclared namespaces', () => {
  it('are refused with 102 naming the namespace and its setting, reported once per namespace', () => {
    const own = new Namespaces(realtime);
    const reported: Array<[string, string]> = [];
    own.onUnknownNamespace((namespace, message) => reported.push([namespace, message]));
    const message = 'unknown channel: namespace "news" is not declared (realtime.namespaces.news in the YAML config)';
    for (const channel of ['news:a', 'news:b', 'sport:a']) {
      assert.throws(() => own.resolve(channel), (err: unknown) => err instanceof ReplyError && err.code === 102 && err.message.startsWith('unknown channel: namespace'));
    }
    assert.throws(() => own.resolve('news:a'), { message });
    assert.deepEqual(reported, [
      ['news', message],
      ['sport', 'unknown channel: namespace "sport" is not declared (realtime.namespaces.sport in the YAML config)'],
    ]);
  });
});
