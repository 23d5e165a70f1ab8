import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
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

describe('TokenVerifier with public keys', () => {
  const HMAC = 'h'.repeat(32);
  // KeyObjects sign with any algorithm of their family (RS256 and PS256 with one RSA key).
  const material = async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }) as string;
    return { rsa, ec, otherRsa, rsaPem: pem(rsa.publicKey), ecPem: pem(ec.publicKey) };
  };
  const keys = material();
  const signWith = (claims: Record<string, unknown>, alg: string, key: Parameters<SignJWT['sign']>[0], header: Record<string, unknown> = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg, ...header }).sign(key);

  it('the token\'s alg picks the key: RS256/PS256 the RSA key, ES256 the EC key, HS256 the API key', async () => {
    const k = await keys;
    const v = new TokenVerifier({ hmacSecret: HMAC, rsaPublicKey: k.rsaPem, ecdsaPublicKey: k.ecPem });
    assert.equal((await v.verifyConnection(await signWith({ sub: 'r' }, 'RS256', k.rsa.privateKey))).user, 'r');
    assert.equal((await v.verifyConnection(await signWith({ sub: 'p' }, 'PS256', k.rsa.privateKey))).user, 'p');
    assert.equal((await v.verifyConnection(await signWith({ sub: 'e' }, 'ES256', k.ec.privateKey))).user, 'e');
    assert.equal((await v.verifyConnection(await sign({ sub: 'h' }, HMAC))).user, 'h');
    const s = await v.verifySubscription(await signWith({ sub: 'r', channel: '$private' }, 'RS256', k.rsa.privateKey));
    assert.equal(s.channel, '$private');
    // Another RSA key's signature, and a P-256 key asked to verify ES384, are refused.
    assert.equal(await failure(v.verifyConnection(await signWith({ sub: 'x' }, 'RS256', k.otherRsa.privateKey))), 'invalid');
    const es384 = await generateKeyPair('ES384');
    assert.equal(await failure(v.verifyConnection(await signWith({ sub: 'x' }, 'ES384', es384.privateKey))), 'invalid');
    assert.equal(await failure(v.verifyConnection(await signWith({ sub: 'x', exp: now() - 5 }, 'ES256', k.ec.privateKey))), 'expired');
  });

  it('a token whose family has no configured key is refused: HS256 without an API key, RS256 with only an EC key', async () => {
    const k = await keys;
    const ecOnly = new TokenVerifier({ ecdsaPublicKey: k.ecPem });
    assert.equal(await failure(ecOnly.verifyConnection(await signWith({ sub: 'x' }, 'RS256', k.rsa.privateKey))), 'invalid');
    assert.equal(await failure(ecOnly.verifyConnection(await sign({ sub: 'x' }, HMAC))), 'invalid');
    const rsaOnly = new TokenVerifier({ rsaPublicKey: k.rsaPem });
    assert.equal(await failure(rsaOnly.verifyConnection(await signWith({ sub: 'x' }, 'ES256', k.ec.privateKey))), 'invalid');
    assert.equal((await rsaOnly.verifyConnection(await signWith({ sub: 'x' }, 'RS512', k.rsa.privateKey))).user, 'x');
  });

  it('algorithm confusion (the RSA public key as an HMAC secret) and alg none are refused', async () => {
    const k = await keys;
    const forged = (claims: object) => sign(claims as Record<string, unknown>, k.rsaPem);
    for (const v of [new TokenVerifier({ rsaPublicKey: k.rsaPem }), new TokenVerifier({ hmacSecret: HMAC, rsaPublicKey: k.rsaPem, ecdsaPublicKey: k.ecPem })]) {
      assert.equal(await failure(v.verifyConnection(await forged({ sub: 'attacker' }))), 'invalid');
      assert.equal(await failure(v.verifySubscription(await forged({ sub: 'attacker', channel: '$c' }))), 'invalid');
      const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"u"}').toString('base64url')}.`;
      assert.equal(await failure(v.verifyConnection(none)), 'invalid');
    }
  });

  it('tokenAudience and tokenIssuer are required of every token, HS256 included', async () => {
    const k = await keys;
    const v = new TokenVerifier({ hmacSecret: HMAC, rsaPublicKey: k.rsaPem, audience: 'app', issuer: 'https://auth.example' });
    const good = { sub: 'u', aud: 'app', iss: 'https://auth.example' };
    assert.equal((await v.verifyConnection(await signWith(good, 'RS256', k.rsa.privateKey))).user, 'u');
    assert.equal((await v.verifyConnection(await sign({ ...good, aud: ['other', 'app'] }, HMAC))).user, 'u');
    assert.equal((await v.verifySubscription(await sign({ ...good, channel: 'c' }, HMAC))).channel, 'c');
    for (const claims of [{ sub: 'u' }, { ...good, aud: 'other' }, { ...good, iss: 'https://evil.example' }, { sub: 'u', aud: 'app' }]) {
      assert.equal(await failure(v.verifyConnection(await signWith(claims, 'RS256', k.rsa.privateKey))), 'invalid', JSON.stringify(claims));
      assert.equal(await failure(v.verifyConnection(await sign(claims, HMAC))), 'invalid', JSON.stringify(claims));
    }
  });
});
