import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  NonceWindow,
  createComputeKeyPair,
  isPublicKey,
  readSignatureHeaders,
  signRequest,
  signatureHeaders,
  verifyRequest,
  type RequestParts,
  type SignatureValues,
} from './signed-request.js';

const T0 = 1_800_000_000_000;
const alice = createComputeKeyPair();
const bob = createComputeKeyPair();
const parts: RequestParts = { method: 'POST', path: '/api/v1/compute/tasks/lease?wait=1', body: '{"a":1}', clientId: 'client-a' };

function check(values: SignatureValues, over: Partial<{ parts: RequestParts; publicKey: string; now: number; nonces: NonceWindow }> = {}) {
  return verifyRequest({ publicKey: over.publicKey ?? alice.publicKey, parts: over.parts ?? parts, values, now: over.now ?? T0, nonces: over.nonces ?? new NonceWindow() });
}

describe('signed requests', () => {
  it('makes raw Ed25519 public keys and verifies its own signature', () => {
    assert.ok(isPublicKey(alice.publicKey));
    assert.notEqual(alice.publicKey, bob.publicKey);
    assert.deepEqual(check(signRequest(alice.privateKey, parts, T0)), { ok: true });
  });

  it('refuses a forged signature', () => {
    const values = signRequest(alice.privateKey, parts, T0);
    const forged = { ...values, signature: Buffer.alloc(64, 7).toString('base64url') };
    assert.equal(check(forged).ok, false);
    assert.deepEqual(check(forged), { ok: false, code: 'SIGNATURE_INVALID', reason: 'the signature does not verify' });
    const garbage = { ...values, signature: 'not-a-signature' };
    assert.equal((check(garbage) as { code: string }).code, 'SIGNATURE_INVALID');
  });

  it("refuses a request signed with another client's key", () => {
    const values = signRequest(bob.privateKey, parts, T0);
    assert.equal((check(values) as { code: string }).code, 'SIGNATURE_INVALID');
    // and a request claiming another client id than the one signed
    const other = { ...signRequest(alice.privateKey, parts, T0), clientId: 'client-b' };
    assert.equal((check(other) as { code: string }).code, 'SIGNATURE_INVALID');
    assert.equal((check(signRequest(alice.privateKey, parts, T0), { parts: { ...parts, clientId: 'client-b' } }) as { code: string }).code, 'SIGNATURE_INVALID');
  });

  it('refuses a replay within the window and accepts a fresh nonce', () => {
    const nonces = new NonceWindow();
    const values = signRequest(alice.privateKey, parts, T0);
    assert.deepEqual(check(values, { nonces }), { ok: true });
    assert.equal((check(values, { nonces, now: T0 + 1000 }) as { code: string }).code, 'SIGNATURE_REPLAYED');
    assert.deepEqual(check(signRequest(alice.privateKey, parts, T0 + 1000), { nonces, now: T0 + 1000 }), { ok: true });
  });

  it('refuses a stale or future timestamp', () => {
    const nonces = new NonceWindow(60_000);
    const values = signRequest(alice.privateKey, parts, T0);
    assert.equal((check(values, { nonces, now: T0 + 60_001 }) as { code: string }).code, 'SIGNATURE_EXPIRED');
    assert.equal((check(values, { nonces, now: T0 - 60_001 }) as { code: string }).code, 'SIGNATURE_EXPIRED');
    assert.deepEqual(check(values, { nonces, now: T0 + 60_000 }), { ok: true });
    // past the window the nonce is forgotten, but the time check refuses the replay
    assert.equal((check(values, { nonces, now: T0 + 120_001 }) as { code: string }).code, 'SIGNATURE_EXPIRED');
  });

  it('refuses a tampered body, path, method or time', () => {
    const values = signRequest(alice.privateKey, parts, T0);
    assert.equal((check(values, { parts: { ...parts, body: '{"a":2}' } }) as { code: string }).code, 'SIGNATURE_INVALID');
    assert.equal((check(values, { parts: { ...parts, path: '/api/v1/compute/tasks/lease?wait=2' } }) as { code: string }).code, 'SIGNATURE_INVALID');
    assert.equal((check(values, { parts: { ...parts, method: 'PUT' } }) as { code: string }).code, 'SIGNATURE_INVALID');
    assert.equal((check({ ...values, timestamp: T0 + 1 }) as { code: string }).code, 'SIGNATURE_INVALID');
    // the same bytes as a Buffer verify: the hash is over bytes
    assert.deepEqual(check(values, { parts: { ...parts, body: Buffer.from('{"a":1}') } }), { ok: true });
  });

  it('does not record the nonce of a request that fails to verify', () => {
    const nonces = new NonceWindow();
    const values = signRequest(alice.privateKey, parts, T0);
    assert.equal(check({ ...values, signature: Buffer.alloc(64).toString('base64url') }, { nonces }).ok, false);
    assert.equal(nonces.size, 0);
    assert.deepEqual(check(values, { nonces }), { ok: true });
  });

  it('keeps the nonce window bounded and refuses rather than forgets', () => {
    const nonces = new NonceWindow(1000, 3);
    for (let i = 0; i < 3; i++) assert.deepEqual(check(signRequest(alice.privateKey, parts, T0), { nonces }), { ok: true });
    const refused = check(signRequest(alice.privateKey, parts, T0), { nonces });
    assert.equal((refused as { code: string }).code, 'SIGNATURE_REPLAYED');
    assert.equal(nonces.size, 3);
    // once they expire there is room again
    assert.deepEqual(check(signRequest(alice.privateKey, parts, T0 + 1500), { nonces, now: T0 + 1500 }), { ok: true });
    assert.equal(nonces.size, 1);
  });

  it('reads its headers back and refuses malformed ones', () => {
    const values = signRequest(alice.privateKey, parts, T0);
    const headers = signatureHeaders(values);
    assert.deepEqual(readSignatureHeaders(headers), values);
    assert.equal(readSignatureHeaders({ ...headers, 'x-mycel-nonce': 'short' }), null);
    assert.equal(readSignatureHeaders({ ...headers, 'x-mycel-timestamp': '12e3' }), null);
    assert.equal(readSignatureHeaders({ ...headers, 'x-mycel-signature': [values.signature, values.signature] }), null);
    const { 'x-mycel-client': _omitted, ...rest } = headers;
    assert.equal(readSignatureHeaders(rest), null);
  });
});
