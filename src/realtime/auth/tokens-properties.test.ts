/**
 * Property tests of the token verifier (fast-check): random and corrupted tokens, other
 * algorithms, `alg: none`, wrong keys, payloads that are not JSON objects, huge tokens, and
 * exp/nbf/expire_at around now; and RS256/PS256/ES256 tokens against configured public keys
 * (corrupted, mis-signed, an algorithm that is not the key's, a public key used as an HMAC secret). Every token is either accepted with the claims it carries or
 * refused with a TokenError of the documented kind ('invalid' or 'expired'); nothing else is
 * ever thrown.
 */
import assert from 'node:assert/strict';
import { constants, createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { JwksServer, jwksToken, signingKey } from '../../../test/helpers/jwks-server.js';
import { TokenError, TokenVerifier, type TokenFailure } from './tokens.js';

const KEY = 'property-test-key';
// MYCEL_PROPERTY_RUNS raises the case count for a longer search.
const RUNS = Number(process.env.MYCEL_PROPERTY_RUNS ?? 200);
const verifier = new TokenVerifier(KEY);

const b64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/** A compact JWS over raw header and payload segments, signed with HMAC-SHA256 by `key`. */
function jws(header: string, payload: string, key = KEY): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
}

type Outcome = { ok: true; value: unknown } | { ok: false; kind: TokenFailure };

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    assert.ok(err instanceof TokenError, `not a TokenError: ${err instanceof Error ? err.stack : String(err)}`);
    assert.ok(err.kind === 'invalid' || err.kind === 'expired', `kind ${String(err.kind)}`);
    assert.equal(typeof err.message, 'string');
    return { ok: false, kind: err.kind };
  }
}

/** Both verifiers on one token. */
async function both(token: string): Promise<[Outcome, Outcome]> {
  return [await outcome(verifier.verifyConnection(token)), await outcome(verifier.verifySubscription(token))];
}

const segment = fc.oneof(fc.base64String({ maxLength: 40 }).map((s) => s.replace(/=/g, '')), fc.string({ maxLength: 20 }), fc.constant(''));

describe('TokenVerifier properties', () => {
  it('random strings and dotted segments are refused as invalid', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 100 }), fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('.'))), async (token) => {
        for (const result of await both(token)) assert.deepEqual(result, { ok: false, kind: 'invalid' });
      }),
      { numRuns: RUNS },
    );
  });

  it('a valid token with any byte changed, dropped or added is refused as invalid', async () => {
    const valid = jws('{"alg":"HS256","typ":"JWT"}', JSON.stringify({ sub: 'u1', channel: 'c' }));
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: valid.length - 1 }), fc.constantFrom('flip', 'drop', 'add'), fc.integer({ min: 33, max: 126 }), async (at, how, code) => {
        const ch = String.fromCharCode(code);
        const corrupted = how === 'drop' ? valid.slice(0, at) + valid.slice(at + 1) : how === 'add' ? valid.slice(0, at) + ch + valid.slice(at) : valid.slice(0, at) + (valid[at] === ch ? (ch === 'A' ? 'B' : 'A') : ch) + valid.slice(at + 1);
        // A change that a lenient base64url decoder reads as the same bytes (the unused low bits
        // of the last character, a dangling last character) may be accepted or refused: it
        // carries the signed content. Every other change must be refused.
        const same = corrupted.split('.').length === 3 && corrupted.split('.').every((s, i) => Buffer.from(s, 'base64url').equals(Buffer.from(valid.split('.')[i]!, 'base64url')) && /^[A-Za-z0-9_-]*$/.test(s));
        const [, sub] = await both(corrupted);
        if (!same || !sub.ok) assert.deepEqual(sub, { ok: false, kind: 'invalid' });
      }),
      { numRuns: RUNS },
    );
  });

  it('other algorithms, alg none, wrong keys and headers that are not JSON are refused as invalid', async () => {
    const header = fc.oneof(
      fc.constantFrom('HS384', 'HS512', 'RS256', 'ES256', 'none', 'None', 'NONE', 'hs256', '').map((alg) => JSON.stringify({ alg, typ: 'JWT' })),
      fc.constant('{"typ":"JWT"}'),
      fc.string({ maxLength: 30 }),
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
    );
    await fc.assert(
      fc.asyncProperty(header, fc.constantFrom('sign', 'none', 'wrong-key'), fc.string({ minLength: 1, maxLength: 20 }), async (h, how, wrongKey) => {
        const payload = JSON.stringify({ sub: 'u1', channel: 'c' });
        const goodHeader = (() => {
          try {
            return (JSON.parse(h) as { alg?: unknown }).alg === 'HS256';
          } catch {
            return false;
          }
        })();
        const token = how === 'none' ? `${b64url(h)}.${b64url(payload)}.` : jws(h, payload, how === 'wrong-key' ? `${KEY}${wrongKey}` : KEY);
        const [, sub] = await both(token);
        if (goodHeader && how === 'sign') assert.equal(sub.ok, true);
        else assert.deepEqual(sub, { ok: false, kind: 'invalid' });
      }),
      { numRuns: RUNS },
    );
  });

  it('a signed payload that is not a JSON object is refused as invalid', async () => {
    const payload = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }), fc.string()).map((v) => JSON.stringify(v)),
    );
    await fc.assert(
      fc.asyncProperty(payload, async (p) => {
        const isObject = (() => {
          try {
            const v: unknown = JSON.parse(p);
            return typeof v === 'object' && v !== null && !Array.isArray(v);
          } catch {
            return false;
          }
        })();
        fc.pre(!isObject);
        for (const result of await both(jws('{"alg":"HS256"}', p))) assert.deepEqual(result, { ok: false, kind: 'invalid' });
      }),
      { numRuns: RUNS },
    );
  });

  it('huge tokens are refused as invalid unless they are authentic', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 100_000, max: 2_000_000 }), fc.constantFrom('garbage', 'unsigned', 'signed'), async (size, how) => {
        const payload = JSON.stringify({ sub: 'u1', info: 'x'.repeat(size) });
        const token = how === 'garbage' ? 'a.'.repeat(size / 2) : how === 'unsigned' ? `${b64url('{"alg":"HS256"}')}.${b64url(payload)}.${'A'.repeat(43)}` : jws('{"alg":"HS256"}', payload);
        const result = await outcome(verifier.verifyConnection(token));
        if (how === 'signed') assert.equal(result.ok, true);
        else assert.deepEqual(result, { ok: false, kind: 'invalid' });
      }),
      { numRuns: 12 },
    );
  });

  it('exp, nbf and expire_at around now give the documented outcome', async () => {
    // Offsets stay two seconds away from now, so the clock ticking between this test and the
    // verifier cannot change the outcome.
    const offset = fc.oneof(fc.integer({ min: -100_000, max: -2 }), fc.integer({ min: 2, max: 100_000 }));
    const time = fc.oneof(
      { weight: 6, arbitrary: offset.map((o) => ({ offset: o })) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>('soon', null, true, [], {}, '123').map((raw) => ({ raw })) },
    );
    const claims = fc.record(
      { exp: time, nbf: time, expire_at: fc.oneof(time, fc.constant({ raw: 0 as unknown }), fc.constant({ raw: -5 as unknown })), sub: fc.oneof(fc.string({ maxLength: 8 }), fc.integer().map((n): unknown => n)), channel: fc.constant('c') },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(claims, async (c) => {
        const now = Math.floor(Date.now() / 1000);
        const value = (t: { offset?: number; raw?: unknown } | undefined): unknown => (t === undefined ? undefined : 'offset' in t ? now + t.offset! : t.raw);
        const payload: Record<string, unknown> = {};
        for (const k of ['exp', 'nbf', 'expire_at'] as const) if (c[k] !== undefined) payload[k] = value(c[k]);
        if (c.sub !== undefined) payload.sub = c.sub;
        if (c.channel !== undefined) payload.channel = c.channel;
        const token = jws('{"alg":"HS256"}', JSON.stringify(payload));

        // What the docs promise (docs/protocol.md, "JWT claims"), in the order it is checked:
        // a JWT's registered claims first, then the connection or subscription claims.
        const isNum = (v: unknown): v is number => typeof v === 'number';
        const expected = (kind: 'connection' | 'subscription'): TokenFailure | 'ok' => {
          const { exp, nbf, expire_at: expireAt, sub, channel } = payload;
          if (nbf !== undefined && (!isNum(nbf) || nbf > now)) return 'invalid';
          if (exp !== undefined && !isNum(exp)) return 'invalid';
          if (isNum(exp) && exp <= now) return 'expired';
          if (kind === 'connection' && channel !== undefined) return 'invalid';
          if (kind === 'subscription' && channel === undefined) return 'invalid';
          if (expireAt !== undefined && expireAt !== null && (!isNum(expireAt) || expireAt < 0)) return 'invalid';
          const until = expireAt === undefined || expireAt === null ? (isNum(exp) ? exp : 0) : expireAt;
          if (until > 0 && until <= now) return 'expired';
          if (sub !== undefined && typeof sub !== 'string') return 'invalid';
          return 'ok';
        };
        const [conn, sub] = await both(token);
        for (const [kind, got] of [['connection', conn], ['subscription', sub]] as const) {
          const want = expected(kind);
          if (want === 'ok') {
            assert.equal(got.ok, true, `${kind}: ${JSON.stringify(payload)} refused: ${JSON.stringify(got)}`);
            const claimsGot = (got as { value: { user: string; expireAt: number } }).value;
            assert.equal(claimsGot.user, typeof payload.sub === 'string' ? payload.sub : '');
          } else {
            assert.deepEqual(got, { ok: false, kind: want }, `${kind}: ${JSON.stringify(payload)}`);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('without an API key every token is refused as invalid', async () => {
    const keyless = new TokenVerifier(undefined);
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 2 }), async (claims) => {
        const result = await outcome(keyless.verifyConnection(jws('{"alg":"HS256"}', JSON.stringify(claims))));
        assert.deepEqual(result, { ok: false, kind: 'invalid' });
      }),
      { numRuns: 50 },
    );
  });
});

describe('TokenVerifier properties with public keys', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const withKeys = new TokenVerifier({ hmacSecret: KEY, rsaPublicKey: rsaPem, ecdsaPublicKey: ecPem });

  type Signer = 'rsa' | 'other-rsa' | 'ec' | 'hmac-api-key' | 'hmac-rsa-pem' | 'hmac-ec-pem';
  const hashOf = (alg: string): string => (/384$/.test(alg) ? 'sha384' : /512$/.test(alg) ? 'sha512' : 'sha256');

  /** A signature over `input` as `signer` would make it for `alg` (whatever the pairing's sense). */
  function signature(alg: string, signer: Signer, input: string): string {
    const data = Buffer.from(input);
    if (signer.startsWith('hmac-')) {
      const secret = signer === 'hmac-api-key' ? KEY : signer === 'hmac-rsa-pem' ? rsaPem : ecPem;
      return createHmac(hashOf(alg), secret).update(data).digest('base64url');
    }
    const key: KeyObject = signer === 'rsa' ? rsa.privateKey : signer === 'other-rsa' ? otherRsa.privateKey : ec.privateKey;
    if (signer === 'ec') return cryptoSign(hashOf(alg), data, { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    const padding = alg.startsWith('PS') ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING;
    // RFC 7518 §3.5: the PSS salt is as long as the hash.
    const saltLength = Number(hashOf(alg).slice(3)) / 8;
    return cryptoSign(hashOf(alg), data, { key, padding, saltLength }).toString('base64url');
  }

  function signed(alg: string, signer: Signer, payload: object = { sub: 'u1', channel: 'c' }): string {
    const input = `${b64url(JSON.stringify({ alg, typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}`;
    return `${input}.${signature(alg, signer, input)}`;
  }

  /** The pairs that must verify: the configured key of the token's algorithm family. */
  const valid = (alg: string, signer: Signer): boolean =>
    (signer === 'rsa' && /^(RS|PS)(256|384|512)$/.test(alg)) || (signer === 'ec' && alg === 'ES256') || (signer === 'hmac-api-key' && alg === 'HS256');

  it('any algorithm and signer: only the configured key of the token\'s algorithm verifies it; the rest is invalid', async () => {
    const alg = fc.constantFrom('RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'EdDSA', 'none', 'rs256', 'RSA', '');
    const signer = fc.constantFrom<Signer>('rsa', 'other-rsa', 'ec', 'hmac-api-key', 'hmac-rsa-pem', 'hmac-ec-pem');
    await fc.assert(
      fc.asyncProperty(alg, signer, async (a, s) => {
        const result = await outcome(withKeys.verifySubscription(signed(a, s)));
        if (valid(a, s)) assert.equal(result.ok, true, `${a} by ${s} refused: ${JSON.stringify(result)}`);
        else assert.deepEqual(result, { ok: false, kind: 'invalid' }, `${a} by ${s}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('a valid RS256, PS256 or ES256 token with any byte changed, dropped or added is refused as invalid', async () => {
    const tokens = { RS256: signed('RS256', 'rsa'), PS256: signed('PS256', 'rsa'), ES256: signed('ES256', 'ec') };
    for (const t of Object.values(tokens)) assert.equal((await outcome(withKeys.verifySubscription(t))).ok, true);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...Object.values(tokens)), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.constantFrom('flip', 'drop', 'add'), fc.integer({ min: 33, max: 126 }), async (valid, where, how, code) => {
        const at = Math.floor(where * valid.length);
        const ch = String.fromCharCode(code);
        const corrupted = how === 'drop' ? valid.slice(0, at) + valid.slice(at + 1) : how === 'add' ? valid.slice(0, at) + ch + valid.slice(at) : valid.slice(0, at) + (valid[at] === ch ? (ch === 'A' ? 'B' : 'A') : ch) + valid.slice(at + 1);
        // As for HS256: a change a lenient base64url decoder reads as the same bytes carries the signed content.
        const same = corrupted.split('.').length === 3 && corrupted.split('.').every((s, i) => Buffer.from(s, 'base64url').equals(Buffer.from(valid.split('.')[i]!, 'base64url')) && /^[A-Za-z0-9_-]*$/.test(s));
        const [conn, sub] = [await outcome(withKeys.verifyConnection(corrupted)), await outcome(withKeys.verifySubscription(corrupted))];
        assert.deepEqual(conn, { ok: false, kind: 'invalid' }, 'a subscription token opened a connection');
        if (!same || !sub.ok) assert.deepEqual(sub, { ok: false, kind: 'invalid' });
      }),
      { numRuns: RUNS },
    );
  });

  it('random signatures and random payloads under RS256/PS256/ES256 headers never crash and are refused as invalid', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('RS256', 'PS256', 'ES256', 'ES512', 'RS512'),
        fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), fc.string({ maxLength: 40 })),
        fc.uint8Array({ maxLength: 600 }),
        async (alg, payload, sig) => {
          const token = `${b64url(JSON.stringify({ alg }))}.${b64url(payload)}.${Buffer.from(sig).toString('base64url')}`;
          for (const result of [await outcome(withKeys.verifyConnection(token)), await outcome(withKeys.verifySubscription(token))]) {
            assert.deepEqual(result, { ok: false, kind: 'invalid' });
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('TokenVerifier properties with a JWKS', () => {
  const server = new JwksServer();
  let verifier: TokenVerifier;
  const valid: string[] = [];
  before(async () => {
    const rsa = await signingKey('rsa', 'RS256');
    const ec = await signingKey('ec', 'ES256');
    server.keys = [rsa, ec];
    await server.start();
    // No cooldown: every unknown kid is decided by a fetch, so every refusal is 'invalid'.
    verifier = new TokenVerifier({ jwksUrl: server.url }, { jwks: { cooldownMs: 0 } });
    valid.push(await jwksToken(rsa, { sub: 'u1', channel: 'c' }), await jwksToken(ec, { sub: 'u1', channel: 'c' }));
  });
  after(() => server.stop());

  it('a valid JWKS token with any byte changed, dropped or added is refused as invalid, never as unavailable', async () => {
    for (const t of valid) assert.equal((await outcome(verifier.verifySubscription(t))).ok, true);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(0, 1), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.constantFrom('flip', 'drop', 'add'), fc.integer({ min: 33, max: 126 }), async (which, where, how, code) => {
        const token = valid[which]!;
        const at = Math.floor(where * token.length);
        const ch = String.fromCharCode(code);
        const corrupted = how === 'drop' ? token.slice(0, at) + token.slice(at + 1) : how === 'add' ? token.slice(0, at) + ch + token.slice(at) : token.slice(0, at) + (token[at] === ch ? (ch === 'A' ? 'B' : 'A') : ch) + token.slice(at + 1);
        const same = corrupted.split('.').length === 3 && corrupted.split('.').every((s, i) => Buffer.from(s, 'base64url').equals(Buffer.from(token.split('.')[i]!, 'base64url')) && /^[A-Za-z0-9_-]*$/.test(s));
        const sub = await outcome(verifier.verifySubscription(corrupted));
        if (!same || !sub.ok) assert.deepEqual(sub, { ok: false, kind: 'invalid' });
      }),
      { numRuns: RUNS },
    );
  });
});
