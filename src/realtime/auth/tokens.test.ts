import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { TokenError, TokenVerifier } from './tokens.js';

const KEY = 'unit-test-key';
const now = () => Math.floor(Date.now() / 1000);
async function sign(claims: Record<string, unknown>, key = KEY): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(key));
}
async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TokenError);
    return e.kind;
  }
  return 'none';
}

describe('TokenVerifier', () => {
  const v = new TokenVerifier(KEY);

  it('reads connection claims', async () => {
    const b64 = Buffer.from(JSON.stringify({ role: 'x' })).toString('base64');
    const c = await v.verifyConnection(
      await sign({ sub: 'u1', exp: now() + 60, info: { a: 1 }, channels: ['c1'], subs: { c2: { b64info: b64, override: { presence: { value: false } } } } }),
    );
    assert.equal(c.user, 'u1');
    assert.equal(c.expireAt > now(), true);
    assert.deepEqual(c.info, { a: 1 });
    assert.deepEqual(c.channels, ['c1']);
    assert.deepEqual(c.subs.c2, { info: { role: 'x' }, override: { presence: false } });
    assert.equal((await v.verifyConnection(await sign({}))).user, '');
  });

  it('a connection token may not name a user id reserved for the node (mycel:…)', async () => {
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'mycel:owner' }))), 'invalid');
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'mycel:node:x' }))), 'invalid');
    assert.equal((await v.verifyConnection(await sign({ sub: 'owner' }))).user, 'owner');
    assert.equal((await v.verifyConnection(await sign({ sub: 'mycelium:x' }))).user, 'mycelium:x');
  });

  it('info and data claims past the client JSON limits make the token invalid (they reach every subscriber)', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 65; i++) deep = [deep];
    const b64 = Buffer.from('{"n":1e999}').toString('base64');
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'u', info: deep }))), 'invalid');
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'u', b64info: b64 }))), 'invalid');
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'u', subs: { c: { data: deep } } }))), 'invalid');
    assert.equal(await failure(v.verifySubscription(await sign({ sub: 'u', channel: 'c', data: deep }))), 'invalid');
    assert.equal(await failure(v.verifySubscription(await sign({ sub: 'u', channel: 'c', b64info: b64 }))), 'invalid');
  });

  it('expire_at replaces exp for the connection; 0 is never', async () => {
    assert.equal((await v.verifyConnection(await sign({ sub: 'u', exp: now() + 60, expire_at: 0 }))).expireAt, 0);
    assert.equal((await v.verifyConnection(await sign({ sub: 'u', expire_at: now() + 999 }))).expireAt, now() + 999);
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'u', expire_at: now() - 1 }))), 'expired');
  });

  it('tells expired from invalid', async () => {
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'u', exp: now() - 5 }))), 'expired');
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'u', exp: now() - 5 }, 'other')) ), 'invalid');
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'u', nbf: now() + 600 }))), 'invalid');
    assert.equal(await failure(v.verifyConnection('abc.def.ghi')), 'invalid');
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 5 }))), 'invalid');
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'u', channels: 'c' }))), 'invalid');
    assert.equal(await failure(v.verifyConnection(await sign({ sub: 'u', channel: 'c' }))), 'invalid');
    assert.equal(await failure(new TokenVerifier(undefined).verifyConnection(await sign({ sub: 'u' }))), 'invalid');
    // alg none / another algorithm is refused.
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"u"}').toString('base64url')}.`;
    assert.equal(await failure(v.verifyConnection(none)), 'invalid');
  });

  it('reads subscription claims and requires channel', async () => {
    const s = await v.verifySubscription(await sign({ sub: 'u', channel: 'ns:$c', client: 'cid', info: 1, data: { d: 2 }, exp: now() + 60 }));
    assert.deepEqual([s.user, s.channel, s.client, s.info, s.data], ['u', 'ns:$c', 'cid', 1, { d: 2 }]);
    assert.equal(await failure(v.verifySubscription(await sign({ sub: 'u' }))), 'invalid');
    assert.equal(await failure(v.verifySubscription(await sign({ sub: 'u', channel: 'c', exp: now() - 1 }))), 'expired');
  });
});
