import { createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';

/**
 * Settings of the public keys that verify connection and subscription JWTs besides the HS256
 * API key (realtime.tokenRsaPublicKey, realtime.tokenEcdsaPublicKey, realtime.tokenJwksUrl).
 * They are checked when the configuration is loaded, so a node never starts with a key it
 * cannot use; messages name the problem, never the key material.
 */

/** The public key families a PEM setting may hold. */
export type PublicKeyFamily = 'rsa' | 'ec';

/** Curves jose verifies ES256/ES384/ES512 with (RFC 7518 §3.4). */
export const EC_CURVES = ['prime256v1', 'secp384r1', 'secp521r1'] as const;

/** jose (and RFC 7518 §3.3) refuse RSA keys below 2048 bits for RS256 and the others. */
export const MIN_RSA_BITS = 2048;

/**
 * A PEM as set in a variable or a one-line YAML string: literal `\n` sequences become line
 * breaks (a variable cannot easily hold real ones), and surrounding blanks go.
 */
export function normalizePem(value: string): string {
  return value.replace(/\\r\\n|\\n/g, '\n').trim();
}

/** The key a PEM setting holds, or why it cannot be used. */
export function parsePublicKeyPem(pem: string, family: PublicKeyFamily): { key: KeyObject } | { problem: string } {
  const want = family === 'rsa' ? 'an RSA public key' : 'an ECDSA (P-256, P-384 or P-521) public key';
  // createPublicKey derives a public key from a private one; a private key in the config is a leak.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) return { problem: `is a private key; give ${want} (PEM) instead` };
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    return { problem: `is not ${want} in PEM form (-----BEGIN PUBLIC KEY-----)` };
  }
  if (family === 'rsa') {
    if (key.asymmetricKeyType !== 'rsa') return { problem: `is not ${want}: it holds a ${key.asymmetricKeyType ?? 'different'} key` };
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return { problem: `is an RSA key of ${bits} bits; RS256 needs at least ${MIN_RSA_BITS}` };
    return { key };
  }
  if (key.asymmetricKeyType !== 'ec') return { problem: `is not ${want}: it holds a ${key.asymmetricKeyType ?? 'different'} key` };
  const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
  if (!(EC_CURVES as readonly string[]).includes(curve)) return { problem: `is an EC key on curve ${curve || 'unknown'}; ES256/ES384/ES512 need P-256, P-384 or P-521` };
  return { key };
}

/** A PEM public key setting: normalized on load, refused unless it is a usable key of `family`. */
export function publicKeyPemSetting(family: PublicKeyFamily) {
  return z
    .string()
    .min(1)
    .overwrite(normalizePem)
    .superRefine((value, ctx) => {
      const parsed = parsePublicKeyPem(value, family);
      if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
    });
}

/** The JWKS endpoint: an absolute http(s) URL. fetch() refuses URLs with credentials, so they are refused here first. */
export const jwksUrlSetting = z
  .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL of a JSON Web Key Set' })
  .refine((value) => !/^[a-z]+:\/\/[^/?#]*@/i.test(value), { message: 'must not carry a user name or password' });
