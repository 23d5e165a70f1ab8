import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MycelError } from '../errors.js';
import { loadConfig, type ConfigIssue } from './load.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;

const dir = mkdtempSync(join(tmpdir(), 'mycel-token-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function issuesOf(fn: () => unknown): ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MycelError, String(err));
    assert.equal(err.code, 'CONFIG_INVALID', err.message);
    return (err.details as { issues: ConfigIssue[] }).issues;
  }
  assert.fail('expected CONFIG_INVALID');
}

/** The body of a PEM (what must never be echoed): its longest base64 line. */
function material(pem: string): string {
  return pem.split('\n').sort((a, b) => b.length - a.length)[0]!;
}

test('token public keys load from a variable with real line breaks or literal \\n sequences, and from YAML', () => {
  const oneLine = rsaPem.trim().replace(/\n/g, '\\n');
  assert.ok(!oneLine.includes('\n'));
  const fromEscaped = loadConfig({ env: { MYCEL_TOKEN_RSA_PUBLIC_KEY: oneLine, MYCEL_TOKEN_ECDSA_PUBLIC_KEY: ecPem } });
  assert.equal(fromEscaped.realtime.tokenRsaPublicKey, rsaPem.trim());
  assert.equal(fromEscaped.realtime.tokenEcdsaPublicKey, ecPem.trim());
  const file = join(dir, 'keys.yaml');
  const indented = rsaPem.trim().split('\n').map((l) => `    ${l}`).join('\n');
  writeFileSync(file, `realtime:\n  tokenRsaPublicKey: |\n${indented}\n  tokenJwksUrl: https://auth.example/.well-known/jwks.json\n  tokenAudience: app\n  tokenIssuer: https://auth.example\n`);
  const fromFile = loadConfig({ configFile: file, env: {} });
  assert.equal(fromFile.realtime.tokenRsaPublicKey, rsaPem.trim());
  assert.equal(fromFile.realtime.tokenJwksUrl, 'https://auth.example/.well-known/jwks.json');
  assert.equal(fromFile.realtime.tokenAudience, 'app');
  // PKCS#1 ("RSA PUBLIC KEY") is what some tools print.
  const pkcs1 = rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  assert.equal(loadConfig({ env: { MYCEL_TOKEN_RSA_PUBLIC_KEY: pkcs1 } }).realtime.tokenRsaPublicKey, pkcs1.trim());
});

test('a PEM that is not a usable public key of its kind is CONFIG_INVALID naming the setting, never the key', () => {
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const priv = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const cases: Array<[string, string, string, RegExp]> = [
    ['MYCEL_TOKEN_RSA_PUBLIC_KEY', 'realtime.tokenRsaPublicKey', 'not a key at all', /not an RSA public key in PEM form/],
    ['MYCEL_TOKEN_RSA_PUBLIC_KEY', 'realtime.tokenRsaPublicKey', rsaPem.replace(/[A-Z]{4}/, 'AAAA'), /not an RSA public key|is not/],
    ['MYCEL_TOKEN_RSA_PUBLIC_KEY', 'realtime.tokenRsaPublicKey', ecPem, /not an RSA public key: it holds a ec key/],
    ['MYCEL_TOKEN_RSA_PUBLIC_KEY', 'realtime.tokenRsaPublicKey', small, /1024 bits; RS256 needs at least 2048/],
    ['MYCEL_TOKEN_RSA_PUBLIC_KEY', 'realtime.tokenRsaPublicKey', priv, /is a private key/],
    ['MYCEL_TOKEN_ECDSA_PUBLIC_KEY', 'realtime.tokenEcdsaPublicKey', rsaPem, /not an ECDSA .* public key: it holds a rsa key/],
    ['MYCEL_TOKEN_ECDSA_PUBLIC_KEY', 'realtime.tokenEcdsaPublicKey', k1, /curve secp256k1/],
  ];
  for (const [variable, key, value, message] of cases) {
    const issues = issuesOf(() => loadConfig({ env: { [variable]: value } }));
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.equal(issues[0]!.key, key);
    assert.equal(issues[0]!.source, `env ${variable}`);
    assert.match(issues[0]!.message, message);
    if (value.includes('\n')) assert.ok(!JSON.stringify(issues).includes(material(value)), 'the key material is echoed');
  }
});

test('the JWKS URL must be an http(s) URL without credentials', () => {
  for (const url of ['ftp://auth.example/jwks', 'not a url', '/jwks.json', 'https://user:pw@auth.example/jwks']) {
    const issues = issuesOf(() => loadConfig({ env: { MYCEL_TOKEN_JWKS_URL: url } }));
    assert.deepEqual(issues.map((i) => i.key), ['realtime.tokenJwksUrl'], url);
  }
  assert.equal(loadConfig({ env: { MYCEL_TOKEN_JWKS_URL: 'http://127.0.0.1:9/jwks' } }).realtime.tokenJwksUrl, 'http://127.0.0.1:9/jwks');
});
