/**
 * Tokens verified with keys from a JSON Web Key Set served by a real HTTP server on loopback:
 * caching, a new `kid`, rotation, unknown `kid`s without a fetch storm, and outages (down,
 * not 200, too slow) answered as 'unavailable' (a temporary error), never as 'invalid'.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { JwksServer, signingKey, jwksToken as token, type SigningKey } from '../../../test/helpers/jwks-server.js';
import { createLogger } from '../../log.js';
import { TokenError, TokenVerifier, type TokenFailure } from './tokens.js';
import { JWKS_DEFAULTS, type JwksOptions } from './jwks-key-set.js';

async function outcome(p: Promise<unknown>): Promise<'ok' | TokenFailure> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof TokenError, String(err));
    return err.kind;
  }
}

function capturedLog(): { lines: Array<Record<string, unknown>>; log: ReturnType<typeof createLogger> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, log: createLogger({ level: 'debug', destination: sink }) };
}

describe('TokenVerifier with a JWKS endpoint', () => {
  const servers: JwksServer[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });
  async function serve(...keys: SigningKey[]): Promise<JwksServer> {
    const server = new JwksServer();
    server.keys = keys;
    await server.start();
    servers.push(server);
    return server;
  }
  const verifier = (server: JwksServer, jwks: JwksOptions = {}, extra: { log?: ReturnType<typeof createLogger> } = {}) =>
    new TokenVerifier({ jwksUrl: server.url }, { jwks, ...extra });

  it('a token signed by a key in the set is accepted; the set is fetched once and cached', async () => {
    const rsa = await signingKey('rsa-1', 'RS256');
    const ec = await signingKey('ec-1', 'ES256');
    const server = await serve(rsa, ec);
    const v = verifier(server);
    assert.equal((await v.verifyConnection(await token(rsa, { sub: 'alice' }))).user, 'alice');
    assert.equal((await v.verifyConnection(await token(ec, { sub: 'bob' }))).user, 'bob');
    assert.equal((await v.verifySubscription(await token(ec, { sub: 'bob', channel: '$room' }))).channel, '$room');
    assert.equal(server.requests, 1);
    // A token without a kid is verified when exactly one key of its type is in the set.
    assert.equal(await outcome(v.verifyConnection(await token(rsa, { sub: 'alice' }, null))), 'ok');
    // A token signed by another key under a kid of the set is refused.
    const impostor = { ...(await signingKey('rsa-1', 'RS256')) };
    assert.equal(await outcome(v.verifyConnection(await token(impostor))), 'invalid');
    assert.equal(server.requests, 1);
  });

  it('a new kid makes the verifier fetch the set again and accept once the server serves the key; the removed key is then refused', async () => {
    const k1 = await signingKey('k1', 'RS256');
    const k2 = await signingKey('k2', 'RS256');
    const server = await serve(k1);
    // No cooldown, so the second unknown kid right after the first fetch may fetch again.
    const v = verifier(server, { cooldownMs: 0 });
    assert.equal(await outcome(v.verifyConnection(await token(k1))), 'ok');
    assert.equal(await outcome(v.verifyConnection(await token(k2))), 'invalid', 'k2 is not served yet');
    assert.equal(server.requests, 2, 'one fetch, then one fetch for the unknown kid');
    // Rotation: the server now serves k2 only.
    server.keys = [k2];
    assert.equal(await outcome(v.verifyConnection(await token(k2))), 'ok');
    assert.equal(server.requests, 3);
    assert.equal(await outcome(v.verifyConnection(await token(k1))), 'invalid', 'the rotated-out key still verifies');
    assert.equal(server.requests, 4, 'exactly one fetch for the unknown kid');
  });

  it('an unknown kid is refused after one fetch; more of them within the cooldown fetch nothing (no fetch storm) and are temporary', async () => {
    const known = await signingKey('known', 'ES256');
    const stranger = await signingKey('stranger', 'ES256');
    const server = await serve(known);
    const v = verifier(server);
    // Twenty at once share the one fetch, which decides them all.
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => token(stranger, { sub: `u${i}` })));
    const results = await Promise.all(tokens.map((t) => outcome(v.verifyConnection(t))));
    assert.deepEqual(new Set(results), new Set(['invalid']));
    // Within the cooldown no set is fetched for them, so nothing says they are bad for good.
    for (let i = 0; i < 20; i++) assert.equal(await outcome(v.verifyConnection(await token(stranger, { sub: 'u' }, `random-${i}`))), 'unavailable');
    assert.equal(server.requests, 1);
    assert.equal(v.jwks?.fetches, 1);
    assert.equal(await outcome(v.verifyConnection(await token(known))), 'ok');
    assert.equal(server.requests, 1);
  });

  it('while the endpoint is down tokens are unavailable (temporary), logged once, with one fetch per retry interval; it recovers when the server is back', async () => {
    const key = await signingKey('k', 'RS256');
    const server = await serve(key);
    await server.stop();
    const { lines, log } = capturedLog();
    const v = verifier(server, {}, { log });
    for (let i = 0; i < 10; i++) assert.equal(await outcome(v.verifyConnection(await token(key))), 'unavailable');
    assert.equal(await outcome(v.verifySubscription(await token(key, { sub: 'u', channel: 'c' }))), 'unavailable');
    assert.equal(v.jwks?.fetches, 1, 'a failed fetch is not retried on every token');
    const warnings = lines.filter((l) => l.level === 40);
    assert.equal(warnings.length, 1, JSON.stringify(lines));
    assert.match(String(warnings[0]!.msg), /cannot be fetched/);
    assert.equal(warnings[0]!.url, server.url);

    // Back up: a verifier that retries at once recovers with the server.
    const { lines: lines2, log: log2 } = capturedLog();
    const eager = verifier(server, { retryAfterFailureMs: 0 }, { log: log2 });
    assert.equal(await outcome(eager.verifyConnection(await token(key))), 'unavailable');
    await server.start();
    assert.equal(await outcome(eager.verifyConnection(await token(key))), 'ok');
    assert.equal(server.requests, 1);
    assert.deepEqual(lines2.map((l) => l.level), [40, 30], 'one warning, then one line saying it is back');
  });

  it('a server answering 503, answering something that is not a key set, or not answering in time makes tokens unavailable, not invalid', async () => {
    const key = await signingKey('k', 'ES256');
    const server = await serve(key);
    for (const mode of ['error', 'garbage', 'hang'] as const) {
      server.mode = mode;
      const v = verifier(server, { timeoutMs: 300 });
      const started = Date.now();
      assert.equal(await outcome(v.verifyConnection(await token(key))), 'unavailable', mode);
      if (mode === 'hang') assert.ok(Date.now() - started < 5_000, 'the timeout was not applied');
    }
    server.mode = 'ok';
  });

  it('keys fetched earlier keep verifying while the endpoint is down; an unknown kid is then unavailable, not invalid', async () => {
    const key = await signingKey('k', 'RS256');
    const fresh = await signingKey('fresh', 'RS256');
    const server = await serve(key);
    // maxAgeMs 0: every token wants a fresh set, so each one meets the outage.
    const v = verifier(server, { maxAgeMs: 0, retryAfterFailureMs: 0 });
    assert.equal(await outcome(v.verifyConnection(await token(key))), 'ok');
    server.mode = 'error';
    assert.equal(await outcome(v.verifyConnection(await token(key))), 'ok');
    assert.equal(await outcome(v.verifyConnection(await token(fresh))), 'unavailable');
    server.mode = 'ok';
  });

  it('public keys and the JWKS together: a kid goes to the JWKS, a token without one to the configured PEM key', async () => {
    const jwksKey = await signingKey('from-jwks', 'RS256');
    const pemPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const server = await serve(jwksKey);
    const v = new TokenVerifier({ rsaPublicKey: pemPair.publicKey.export({ type: 'spki', format: 'pem' }) as string, jwksUrl: server.url, hmacSecret: 'h'.repeat(32) });
    const pemToken = await new SignJWT({ sub: 'pem' }).setProtectedHeader({ alg: 'RS256' }).sign(pemPair.privateKey);
    assert.equal((await v.verifyConnection(pemToken)).user, 'pem');
    assert.equal((await v.verifyConnection(await token(jwksKey, { sub: 'jwks' }))).user, 'jwks');
    // The JWKS key without a kid goes to the PEM key, which did not sign it.
    assert.equal(await outcome(v.verifyConnection(await token(jwksKey, { sub: 'x' }, null))), 'invalid');
    // An HS256 token signed with the JWKS key's public JSON as a secret is refused.
    const confused = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'HS256', kid: 'from-jwks' }).sign(new TextEncoder().encode(JSON.stringify(jwksKey.jwk)));
    assert.equal(await outcome(v.verifyConnection(confused)), 'invalid');
  });
});

describe('JWKS defaults in the docs', () => {
  it('docs/security.md and docs/protocol.md state the fetch timeout, the cooldown, the retry interval and the cache age', () => {
    const security = readFileSync(new URL('../../../docs/security.md', import.meta.url), 'utf8');
    const protocol = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
    const row = (name: string) => security.split('\n').find((l) => l.startsWith(`| ${name} |`)) ?? '';
    assert.match(row('JWKS fetch time'), new RegExp(`\\| ${JWKS_DEFAULTS.timeoutMs / 1000} s \\|`));
    assert.match(row('JWKS fetches for unknown `kid`s'), new RegExp(`at most 1 per ${JWKS_DEFAULTS.cooldownMs / 1000} s; after a failed fetch none for ${JWKS_DEFAULTS.retryAfterFailureMs / 1000} s`));
    assert.match(row('JWKS kept before it is fetched again'), new RegExp(`\\| ${JWKS_DEFAULTS.maxAgeMs / 60_000} min \\|`));
    assert.ok(protocol.includes(`fetched on first use (${JWKS_DEFAULTS.timeoutMs / 1000} s timeout) and kept for ${JWKS_DEFAULTS.maxAgeMs / 60_000}`));
    assert.ok(protocol.includes(`at most once every ${JWKS_DEFAULTS.cooldownMs / 1000} s`));
  });
});
