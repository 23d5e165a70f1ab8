import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

/**
 * Signed compute requests (docs/compute.md "Node side"). A compute client makes an Ed25519 key
 * pair on first start; the node learns its public key when it joins. Every request the client
 * makes carries four headers, and the signature covers one canonical string:
 *
 *   mycel-compute-v1 \n METHOD \n /path?query \n timestamp \n nonce \n sha256(body) hex \n clientId
 *
 * so a request cannot be replayed on another route, with another body, as another client, or
 * later than the skew window; a nonce seen within the window is refused (replay). Pure: no I/O,
 * no clock of its own (`now` is passed in) and no error registry (this is the lib layer); the
 * domain turns a failed verification into SIGNATURE_INVALID / SIGNATURE_EXPIRED /
 * SIGNATURE_REPLAYED.
 *
 * Keys travel as base64url: the public key as its raw 32 bytes (43 characters), the private
 * key as PKCS#8 DER. Timestamps are ms since the epoch; nonces 16 to 64 base64url characters.
 */

export const SIGNATURE_SCHEME = 'mycel-compute-v1';

/** The headers of a signed request (lower case, as Node's HTTP server presents them). */
export const SIGNATURE_HEADERS = {
  client: 'x-mycel-client',
  timestamp: 'x-mycel-timestamp',
  nonce: 'x-mycel-nonce',
  signature: 'x-mycel-signature',
} as const;

/** The default accepted difference between a request's time and the verifier's clock. */
export const DEFAULT_SKEW_MS = 5 * 60 * 1000;

export interface ComputeKeyPair {
  /** Raw Ed25519 public key, base64url (43 characters). */
  publicKey: string;
  /** PKCS#8 DER, base64url: keep it private (a file of mode 0600 on the client). */
  privateKey: string;
}

/** What the signature covers, but the body's hash (computed here). */
export interface RequestParts {
  method: string;
  /** The request target as sent: path and query string. */
  path: string;
  body: Uint8Array | string;
  clientId: string;
}

export interface SignatureValues {
  clientId: string;
  timestamp: number;
  nonce: string;
  /** Ed25519 signature, base64url. */
  signature: string;
}

export type SignatureFailure = 'SIGNATURE_INVALID' | 'SIGNATURE_EXPIRED' | 'SIGNATURE_REPLAYED';

export type VerifyOutcome = { ok: true } | { ok: false; code: SignatureFailure; reason: string };

const PUBLIC_KEY = /^[A-Za-z0-9_-]{43}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;
/** The DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw key follows it. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Makes a fresh Ed25519 key pair. */
export function createComputeKeyPair(): ComputeKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return {
    publicKey: spki.subarray(SPKI_PREFIX.length).toString('base64url'),
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url'),
  };
}

/** Whether `value` has the shape of a raw Ed25519 public key in base64url. */
export function isPublicKey(value: unknown): value is string {
  if (typeof value !== 'string' || !PUBLIC_KEY.test(value)) return false;
  return Buffer.from(value, 'base64url').length === 32;
}

/**
 * Key objects made from the same text are kept (a client signs, and the node verifies, many
 * requests with one key: decoding the DER each time was a tenth of a federated round's CPU).
 * Bounded; the oldest entry goes first.
 */
const KEPT_KEYS = 256;
const publicKeys = new Map<string, KeyObject>();
const privateKeys = new Map<string, KeyObject>();

function kept(cache: Map<string, KeyObject>, text: string, make: () => KeyObject): KeyObject {
  let key = cache.get(text);
  if (key === undefined) {
    key = make();
    cache.set(text, key);
    if (cache.size > KEPT_KEYS) cache.delete(cache.keys().next().value as string);
  }
  return key;
}

/** The public key as a KeyObject; throws on a malformed key. */
export function publicKeyObject(publicKey: string): KeyObject {
  if (!isPublicKey(publicKey)) throw new TypeError('not a raw Ed25519 public key in base64url');
  return kept(publicKeys, publicKey, () => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(publicKey, 'base64url')]), format: 'der', type: 'spki' }));
}

function privateKeyObject(privateKey: string): KeyObject {
  return kept(privateKeys, privateKey, () => createPrivateKey({ key: Buffer.from(privateKey, 'base64url'), format: 'der', type: 'pkcs8' }));
}

/** sha256 of the body, lower-case hex. */
export function bodyHash(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The exact string the signature covers. Fields may not hold a line break. */
export function canonicalRequestString(parts: RequestParts, timestamp: number, nonce: string): string {
  const fields = [SIGNATURE_SCHEME, parts.method.toUpperCase(), parts.path, String(timestamp), nonce, bodyHash(parts.body), parts.clientId];
  if (fields.some((f) => /[\r\n]/.test(f))) throw new TypeError('a signed field holds a line break');
  return fields.join('\n');
}

/** A fresh nonce (128 random bits, base64url). */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** Signs a request at `now` with a fresh nonce (or the given one); returns the header values. */
export function signRequest(privateKey: string, parts: RequestParts, now: number, nonce: string = newNonce()): SignatureValues {
  const data = Buffer.from(canonicalRequestString(parts, now, nonce));
  const signature = sign(null, data, privateKeyObject(privateKey)).toString('base64url');
  return { clientId: parts.clientId, timestamp: now, nonce, signature };
}

/** The header map of signed values, to send with the request. */
export function signatureHeaders(values: SignatureValues): Record<string, string> {
  return {
    [SIGNATURE_HEADERS.client]: values.clientId,
    [SIGNATURE_HEADERS.timestamp]: String(values.timestamp),
    [SIGNATURE_HEADERS.nonce]: values.nonce,
    [SIGNATURE_HEADERS.signature]: values.signature,
  };
}

/**
 * Reads the signature values from request headers (a header given twice, as an array, is
 * refused); null when one is missing or malformed.
 */
export function readSignatureHeaders(headers: Record<string, string | string[] | undefined>): SignatureValues | null {
  const get = (name: string): string | undefined => {
    const v = headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  const clientId = get(SIGNATURE_HEADERS.client);
  const timestamp = get(SIGNATURE_HEADERS.timestamp);
  const nonce = get(SIGNATURE_HEADERS.nonce);
  const signature = get(SIGNATURE_HEADERS.signature);
  if (clientId === undefined || timestamp === undefined || nonce === undefined || signature === undefined) return null;
  if (!/^\d{1,16}$/.test(timestamp) || !NONCE.test(nonce) || !SIGNATURE.test(signature) || clientId.length === 0 || clientId.length > 64) return null;
  return { clientId, timestamp: Number(timestamp), nonce, signature };
}

/**
 * The nonces seen within the skew window, per client: bounded memory. A nonce is remembered
 * until its request's time plus the skew (after that the time check refuses the request
 * anyway). When the set is full of live nonces a new one is refused rather than an old one
 * forgotten, which would open a replay.
 */
export class NonceWindow {
  private readonly seen = new Map<string, number>();

  constructor(
    readonly skewMs: number = DEFAULT_SKEW_MS,
    readonly maxEntries: number = 100_000,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  /** Records the nonce; 'replayed' when seen within the window, 'full' when no room is left. */
  admit(clientId: string, nonce: string, timestamp: number, now: number): 'ok' | 'replayed' | 'full' {
    const key = `${clientId}\n${nonce}`;
    const expires = this.seen.get(key);
    if (expires !== undefined && expires >= now) return 'replayed';
    if (this.seen.size >= this.maxEntries) this.prune(now);
    if (this.seen.size >= this.maxEntries) return 'full';
    this.seen.set(key, timestamp + this.skewMs);
    return 'ok';
  }

  private prune(now: number): void {
    for (const [key, expires] of this.seen) if (expires < now) this.seen.delete(key);
  }
}

export interface VerifyInput {
  /** The client's registered public key (base64url raw). */
  publicKey: string;
  parts: RequestParts;
  values: SignatureValues;
  now: number;
  /** Shared across requests: replays are found here. */
  nonces: NonceWindow;
  /** The nonce is admitted once per scope (a poll relayed for several tasks: once per task); absent: once. */
  nonceScope?: string;
}

/**
 * Checks a request: its time within the window (SIGNATURE_EXPIRED), the signature over the
 * canonical string with the client's key (SIGNATURE_INVALID), then its nonce unseen
 * (SIGNATURE_REPLAYED). The nonce is recorded only once the signature verifies, so forged
 * requests cannot fill the window.
 */
export function verifyRequest({ publicKey, parts, values, now, nonces, nonceScope }: VerifyInput): VerifyOutcome {
  if (values.clientId !== parts.clientId) return { ok: false, code: 'SIGNATURE_INVALID', reason: 'the client id differs from the signed one' };
  if (Math.abs(now - values.timestamp) > nonces.skewMs) {
    return { ok: false, code: 'SIGNATURE_EXPIRED', reason: `the request time is more than ${Math.round(nonces.skewMs / 1000)} s from the node's clock` };
  }
  let valid = false;
  try {
    const data = Buffer.from(canonicalRequestString(parts, values.timestamp, values.nonce));
    valid = SIGNATURE.test(values.signature) && verify(null, data, publicKeyObject(publicKey), Buffer.from(values.signature, 'base64url'));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, code: 'SIGNATURE_INVALID', reason: 'the signature does not verify' };
  const admitted = nonces.admit(values.clientId, nonceScope === undefined ? values.nonce : `${values.nonce}\n${nonceScope}`, values.timestamp, now);
  if (admitted === 'replayed') return { ok: false, code: 'SIGNATURE_REPLAYED', reason: 'the nonce was used within the window' };
  if (admitted === 'full') return { ok: false, code: 'SIGNATURE_REPLAYED', reason: 'too many requests within the window to remember their nonces' };
  return { ok: true };
}
