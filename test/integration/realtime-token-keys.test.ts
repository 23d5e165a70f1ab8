/**
 * Token keys beyond HS256 on the node as `mycel serve` assembles it (src/node/assemble.ts), in
 * process on port 0, with a JWKS endpoint on loopback (test/helpers/jwks-server.ts) and real
 * `centrifuge` clients: RS256/ES256 connection and subscription tokens, the same tokens on REST,
 * `aud`/`iss` checks, and a JWKS outage answered as a temporary error (the client keeps
 * reconnecting and gets in once the endpoint is back; REST answers 503), logged once.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import type { Centrifuge } from 'centrifuge';
import { SignJWT } from 'jose';
import { configSchema } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { startNode, type RunningNode } from '../../src/node/assemble.js';
import { DISCONNECTS, ERRORS } from '../../src/realtime/protocol/codes.js';
import { JwksServer, jwksToken, signingKey, type SigningKey } from '../helpers/jwks-server.js';
import { API_KEY, sign, tracked, waitEvent, waitUntilEvent, wsCentrifuge } from './realtime-harness.js';

const AUDIENCE = 'mycel-test';
const ISSUER = 'https://auth.test';
const claims = (sub: string, extra: Record<string, unknown> = {}) => ({ sub, aud: AUDIENCE, iss: ISSUER, ...extra });

let node: RunningNode;
let dataDir: string;
let jwks: JwksServer;
let rsaKey: SigningKey;
let ecKey: SigningKey;
const pem = generateKeyPairSync('rsa', { modulusLength: 2048 });
const logLines: Array<Record<string, unknown>> = [];
const clients: Centrifuge[] = [];

/** Log lines as parsed JSON, and a logger that writes them. */
function capturingLog(lines: Array<Record<string, unknown>>) {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return createLogger({ level: 'warn', destination: sink });
}

/** A node whose tokens are checked with the API key, `pem`'s public key and the JWKS at `jwksUrl`. */
function startTokenNode(dir: string, jwksUrl: string, lines: Array<Record<string, unknown>>): Promise<RunningNode> {
  const config = configSchema.parse({
    node: { name: 'token-keys', dataDir: dir },
    owner: { password: 'owner-secret-token-keys' },
    server: { host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1 },
    realtime: {
      apiKey: API_KEY,
      // As a variable would carry it: one line with literal \n sequences.
      tokenRsaPublicKey: (pem.publicKey.export({ type: 'spki', format: 'pem' }) as string).trim().replace(/\n/g, '\\n'),
      tokenJwksUrl: jwksUrl,
      tokenAudience: AUDIENCE,
      tokenIssuer: ISSUER,
      namespaces: { room: {} },
    },
  });
  return startNode(config, capturingLog(lines));
}

before(async () => {
  rsaKey = await signingKey('rsa-1', 'RS256');
  ecKey = await signingKey('ec-1', 'ES256');
  jwks = new JwksServer();
  jwks.keys = [rsaKey, ecKey];
  await jwks.start();
  dataDir = mkdtempSync(join(tmpdir(), 'mycel-token-keys-'));
  node = await startTokenNode(join(dataDir, 'a'), jwks.url, logLines);
});

after(async () => {
  for (const c of clients) c.disconnect();
  await node?.close();
  await jwks?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const wsUrl = () => `${node.url.replace('http', 'ws')}/connection/websocket`;

test('RS256 (JWKS) connection token, ES256 (JWKS) subscription token for a private channel, and a PEM-key token', async () => {
  const client = tracked(clients, wsCentrifuge(wsUrl(), { token: await jwksToken(rsaKey, claims('ann')) }));
  const sub = client.newSubscription('room:$secret', { token: await jwksToken(ecKey, claims('ann', { channel: 'room:$secret' })) });
  const subscribed = waitEvent(sub, 'subscribed');
  sub.subscribe();
  client.connect();
  await subscribed;
  const received = waitEvent<{ data: unknown }>(sub, 'publication');
  await client.publish('room:$secret', { hello: 'keys' });
  assert.deepEqual((await received).data, { hello: 'keys' });

  // A token signed by the configured PEM key (no kid) connects as well.
  const pemToken = await new SignJWT(claims('bob')).setProtectedHeader({ alg: 'RS256' }).sign(pem.privateKey);
  const other = tracked(clients, wsCentrifuge(wsUrl(), { token: pemToken }));
  other.connect();
  await waitEvent(other, 'connected');
  other.disconnect();
  client.disconnect();
});

test('the same JWKS token authenticates REST; HS256 with the API key still works; a wrong audience is refused', async () => {
  const res = await node.app.inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${await jwksToken(ecKey, claims('cid'))}` } });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual((res.json() as { actor: unknown }).actor, { kind: 'user', userId: 'cid' });
  const hs = await node.app.inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${await sign(claims('dee'))}` } });
  assert.deepEqual((hs.json() as { actor: unknown }).actor, { kind: 'user', userId: 'dee' });
  const wrongAud = await node.app.inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${await jwksToken(rsaKey, claims('eve', { aud: 'other' }))}` } });
  assert.equal(wrongAud.statusCode, 401, wrongAud.body);

  const client = tracked(clients, wsCentrifuge(wsUrl(), { token: await sign({ sub: 'eve' }) }));
  const disconnected = waitEvent<{ code: number }>(client, 'disconnected');
  client.connect();
  assert.equal((await disconnected).code, DISCONNECTS.invalidToken.code, 'a token without aud/iss is refused as invalid');
});

test('while the JWKS cannot be fetched: connect is a temporary error and the client keeps trying, REST is 503, one log line; back up, the client gets in', async (t) => {
  // A node that starts while its identity provider is down, so it has no keys at hand.
  const key = await signingKey('rsa-2', 'RS256');
  const down = new JwksServer();
  down.keys = [key];
  await down.start();
  await down.stop();
  const lines: Array<Record<string, unknown>> = [];
  const second = await startTokenNode(join(dataDir, 'b'), down.url, lines);
  const own: Centrifuge[] = [];
  t.after(async () => {
    for (const c of own) c.disconnect();
    await second.close();
    await down.stop();
  });

  const rest = await second.app.inject({ url: '/api/v1/session', headers: { authorization: `Bearer ${await jwksToken(key, claims('fay'))}` } });
  assert.equal(rest.statusCode, 503, rest.body);
  assert.equal((rest.json() as { error: { code: string } }).error.code, 'TOKEN_KEYS_UNAVAILABLE');

  const client = tracked(own, wsCentrifuge(`${second.url.replace('http', 'ws')}/connection/websocket`, { token: await jwksToken(key, claims('fay')) }));
  const errors: number[] = [];
  client.on('error', (ctx: { type: string; error: { code: number } }) => {
    if (ctx.type === 'connect') errors.push(ctx.error.code);
  });
  let disconnectedFor: number | undefined;
  client.on('disconnected', (ctx: { code: number }) => {
    disconnectedFor = ctx.code;
  });
  const twoErrors = waitUntilEvent(client, 'error', () => errors.length >= 2, 5000, 'two connect errors');
  client.connect();
  await twoErrors;
  assert.deepEqual([...new Set(errors)], [ERRORS.internal.code]);
  assert.equal(client.state, 'connecting', 'the client gave up');
  assert.equal(disconnectedFor, undefined);

  await down.start();
  // The verifier waits its retry interval (5 s) after a failed fetch before the next one.
  await waitEvent(client, 'connected', () => true, 10_000);
  const warnings = lines.filter((l) => l.level === 40);
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(String(warnings[0]!.msg), /token key set \(JWKS\) cannot be fetched/);
  assert.ok(errors.length >= 2);

  // A subscription token under a kid the set does not hold yet: temporary (100), the client
  // resubscribes, and gets in once the key is served and the cooldown lets the set be fetched.
  const newer = await signingKey('ec-2', 'ES256');
  const sub = client.newSubscription('room:$late', { token: await jwksToken(newer, claims('fay', { channel: 'room:$late' })), minResubscribeDelay: 50, maxResubscribeDelay: 300 });
  const subErrors: number[] = [];
  sub.on('error', (ctx: { error: { code: number } }) => subErrors.push(ctx.error.code));
  const firstError = waitUntilEvent(sub, 'error', () => subErrors.length >= 1, 5000, 'a subscribe error');
  sub.subscribe();
  await firstError;
  assert.deepEqual([...new Set(subErrors)], [ERRORS.internal.code]);
  assert.equal(sub.state, 'subscribing', 'the subscription gave up');
  down.keys = [key, newer];
  await waitEvent(sub, 'subscribed', () => true, 10_000);
  assert.equal(client.state, 'connected');
});
