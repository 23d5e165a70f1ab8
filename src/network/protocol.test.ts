import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage } from './protocol.js';

const hash = 'a'.repeat(64);

test('protocol: known messages parse; anything else is BAD_MESSAGE; size over the bound is CHUNK_TOO_LARGE', () => {
  assert.deepEqual(parseMessage(JSON.stringify({ t: 'credit', n: 2 }), 1000), { t: 'credit', n: 2 });
  assert.equal(parseMessage(JSON.stringify({ t: 'pull', after: { serial: 0, hash }, credit: 4 }), 1000).t, 'pull');
  for (const bad of ['nope', '[]', 'null', '{"t":"what"}', '{"t":"credit","n":0}', '{"t":"credit","n":1,"extra":1}', '{"t":"pull","after":{"serial":-1,"hash":"x"},"credit":1}']) {
    assert.throws(() => parseMessage(bad, 1000), { code: 'BAD_MESSAGE' }, bad);
  }
  assert.throws(() => parseMessage(JSON.stringify({ t: 'credit', n: 1, pad: 'é'.repeat(600) }), 1000), { code: 'CHUNK_TOO_LARGE' });
  // A change of an unknown type is not a malformed message: the importer answers CHANGE_UNSUPPORTED.
  const change = { serial: 1, originNodeId: 'n', originSerial: 1, type: 'widget.created', payloadVersion: 7, payload: {}, createdAt: 1, prevHash: hash, hash };
  assert.equal(parseMessage(JSON.stringify({ t: 'changes', changes: [change], head: 1 }), 10_000).t, 'changes');
});

test('protocol: a changes message is checked field by field, in place', () => {
  const change = { serial: 3, originNodeId: 'n', originSerial: 2, type: 'post.created', payloadVersion: 1, payload: { a: [1] }, createdAt: 0, prevHash: hash, hash };
  const text = JSON.stringify({ t: 'changes', changes: [change, { ...change, serial: 4 }], head: 9, filtered: true });
  const parsed = parseMessage(text, 10_000);
  assert.deepEqual(parsed, JSON.parse(text));
  assert.deepEqual(parseMessage(JSON.stringify({ t: 'changes', changes: [], head: 0 }), 1000), { t: 'changes', changes: [], head: 0 });
  const badChanges: Array<[Record<string, unknown>, string]> = [
    [{ ...change, serial: 0 }, 'changes.1.serial'],
    [{ ...change, serial: 1.5 }, 'changes.1.serial'],
    [{ ...change, serial: 2 ** 53 }, 'changes.1.serial'],
    [{ ...change, originNodeId: '' }, 'changes.1.originNodeId'],
    [{ ...change, originNodeId: 'x'.repeat(65) }, 'changes.1.originNodeId'],
    [{ ...change, originSerial: '2' }, 'changes.1.originSerial'],
    [{ ...change, type: '' }, 'changes.1.type'],
    [{ ...change, payloadVersion: -1 }, 'changes.1.payloadVersion'],
    [{ ...change, payloadVersion: 1_000_001 }, 'changes.1.payloadVersion'],
    [{ ...change, payload: [] }, 'changes.1.payload'],
    [{ ...change, payload: null }, 'changes.1.payload'],
    [{ ...change, createdAt: -1 }, 'changes.1.createdAt'],
    [{ ...change, prevHash: 'A'.repeat(64) }, 'changes.1.prevHash'],
    [{ ...change, hash: 'a'.repeat(63) }, 'changes.1.hash'],
    [{ ...change, extra: 1 }, 'changes.1.extra'],
    [(({ hash: _h, ...rest }) => rest)(change), 'changes.1.hash'],
  ];
  for (const [bad, path] of badChanges) {
    assert.throws(() => parseMessage(JSON.stringify({ t: 'changes', changes: [change, bad], head: 9 }), 10_000), { code: 'BAD_MESSAGE', details: { reason: 'invalid fields', t: 'changes', path, issue: path.endsWith('extra') ? 'unrecognized key' : 'missing or invalid' } }, path);
  }
  for (const [envelope, path] of [
    [{ t: 'changes', changes: 'nope', head: 1 }, 'changes'],
    [{ t: 'changes', changes: [change, 7], head: 1 }, 'changes.1'],
    [{ t: 'changes', changes: [], head: -1 }, 'head'],
    [{ t: 'changes', changes: [] }, 'head'],
    [{ t: 'changes', changes: [], head: 1, filtered: 'yes' }, 'filtered'],
    [{ t: 'changes', changes: [], head: 1, more: true }, 'more'],
  ] as const) {
    assert.throws(() => parseMessage(JSON.stringify(envelope), 10_000), (err: { code?: string; details?: { path?: string } }) => err.code === 'BAD_MESSAGE' && err.details?.path === path, path);
  }
});
