/**
 * Connection and subscription JWTs, as Centrifugo reads them (docs/protocol.md, "JWT claims"
 * and "JWT keys"): HS256 signed with realtime.apiKey, RS256/PS256 (and the 384/512 variants)
 * with realtime.tokenRsaPublicKey, ES256/ES384/ES512 with realtime.tokenEcdsaPublicKey, and
 * RSA/EC keys from the JWKS at realtime.tokenJwksUrl. The token's `alg` picks the key, so a
 * public key can never be used as an HMAC secret. The verifier only says what a token claims
 * and whether it is valid, expired, or cannot be checked right now; callers map that to the
 * protocol's codes (connect: 3500 / 109 / 100, subscribe: 103 / 109 / 100, refresh: 3500 /
 * 3005 / 100).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, type FlattenedJWSInput, type JWSHeaderParameters, type JWTPayload, type JWTVerifyOptions } from 'jose';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../log.js';
import { clientJsonProblem } from '../protocol/data-limits.js';
import { JwksKeySet, JwksUnavailableError, type JwksOptions } from './jwks-key-set.js';
import { isReservedUserId, RESERVED_USER_PREFIX } from './principals.js';

/**
 * Why a token cannot be used: it is not valid, it has expired, or the keys that would check it
 * cannot be had right now (the JWKS endpoint is down): a temporary failure, the client retries.
 */
export type TokenFailure = 'invalid' | 'expired' | 'unavailable';

/** The message of the temporary reply error (100) a client gets while the token keys cannot be fetched. */
export const TOKEN_KEYS_UNAVAILABLE_MESSAGE = 'token keys unavailable';

/** A token that cannot be used; `kind` tells the caller which code to answer with. */
export class TokenError extends Error {
  readonly kind: TokenFailure;
  constructor(kind: TokenFailure, message: string) {
    super(message);
    this.name = 'TokenError';
    this.kind = kind;
  }
}

/** Per-channel overrides a token may carry (`override` in Centrifugo's claims). */
export interface SubscriptionOverride {
  presence?: boolean;
  joinLeave?: boolean;
  forcePushJoinLeave?: boolean;
  forcePositioning?: boolean;
  forceRecovery?: boolean;
}

/** Options of one server-side subscription from a connection token's `subs` claim. */
export interface ServerSubClaim {
  info?: unknown;
  data?: unknown;
  override?: SubscriptionOverride;
}

export interface ConnectionClaims {
  /** The user; "" is anonymous. */
  user: string;
  /** Unix seconds when the connection expires; 0 = never. */
  expireAt: number;
  /** Becomes the client's conn_info (presence, publications, join/leave). */
  info: unknown;
  /** Channels the connection is subscribed to on connect (server-side subscriptions). */
  channels: string[];
  subs: Record<string, ServerSubClaim>;
  meta: unknown;
}

export interface SubscriptionClaims {
  user: string;
  channel: string;
  /** When set, only this client id may use the token. */
  client: string;
  /** Unix seconds; 0 = never. */
  expireAt: number;
  /** Becomes chan_info. */
  info: unknown;
  /** Returned to the client as the subscribe result's data. */
  data: unknown;
  override?: SubscriptionOverride;
}

function invalid(message: string): never {
  throw new TokenError('invalid', message);
}

function optString(payload: JWTPayload, key: string): string {
  const v = payload[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') invalid(`claim ${key} must be a string`);
  return v;
}

function optUnixSeconds(payload: JWTPayload, key: string): number | undefined {
  const v = payload[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) invalid(`claim ${key} must be a non-negative number`);
  return Math.floor(v);
}

/** `info` (JSON) or `b64info` (base64 of JSON) → a JSON value; undefined when neither is set. */
function jsonOrB64(payload: Record<string, unknown>, key: string): unknown {
  const value = rawJsonOrB64(payload, key);
  // Claims end up in presence, publications and replies that every subscriber reads.
  const problem = clientJsonProblem(value, `claim ${key}`);
  if (problem !== null) invalid(problem);
  return value;
}

function rawJsonOrB64(payload: Record<string, unknown>, key: string): unknown {
  if (payload[key] !== undefined) return payload[key];
  const b64 = payload[`b64${key}`];
  if (b64 === undefined || b64 === null) return undefined;
  if (typeof b64 !== 'string') invalid(`claim b64${key} must be a string`);
  try {
    return JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as unknown;
  } catch {
    invalid(`claim b64${key} must be base64 of JSON`);
  }
}

function parseOverride(v: unknown): SubscriptionOverride | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) invalid('claim override must be an object');
  const o = v as Record<string, unknown>;
  const flag = (key: string): boolean | undefined => {
    const f = o[key];
    if (f === undefined || f === null) return undefined;
    if (typeof f !== 'object' || Array.isArray(f)) invalid(`override ${key} must be {"value": bool}`);
    const value = (f as Record<string, unknown>).value;
    if (typeof value !== 'boolean') invalid(`override ${key} must be {"value": bool}`);
    return value;
  };
  const out: SubscriptionOverride = {};
  const presence = flag('presence');
  if (presence !== undefined) out.presence = presence;
  const joinLeave = flag('join_leave');
  if (joinLeave !== undefined) out.joinLeave = joinLeave;
  const forcePush = flag('force_push_join_leave');
  if (forcePush !== undefined) out.forcePushJoinLeave = forcePush;
  const forcePositioning = flag('force_positioning');
  if (forcePositioning !== undefined) out.forcePositioning = forcePositioning;
  const forceRecovery = flag('force_recovery');
  if (forceRecovery !== undefined) out.forceRecovery = forceRecovery;
  return out;
}

/**
 * Connection expiry: `expire_at` replaces `exp` for the connection (0 = never); `exp` itself
 * still decides whether the token may be used at all (jose checks it).
 */
function expiry(payload: JWTPayload): number {
  const expireAt = optUnixSeconds(payload, 'expire_at');
  if (expireAt !== undefined) return expireAt;
  return optUnixSeconds(payload, 'exp') ?? 0;
}

/** The keys and claim checks that tokens are verified with (realtime.apiKey and realtime.token*). */
export interface TokenKeys {
  /** HS256 secret: realtime.apiKey. */
  hmacSecret?: string | undefined;
  /** PEM: realtime.tokenRsaPublicKey (checked at config load). */
  rsaPublicKey?: string | undefined;
  /** PEM: realtime.tokenEcdsaPublicKey. */
  ecdsaPublicKey?: string | undefined;
  jwksUrl?: string | undefined;
  /** When set, tokens must carry this `aud` / `iss`. */
  audience?: string | undefined;
  issuer?: string | undefined;
}

export interface TokenVerifierOptions {
  /** Where a JWKS outage is reported (once per outage). */
  log?: Logger;
  jwks?: JwksOptions;
}

const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
/** Each ES algorithm and the one curve it is defined on (RFC 7518 §3.4). */
const EC_CURVE_OF: Readonly<Record<string, string>> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** The verifier's keys as the node's config gives them. */
export function tokenKeysOf(config: Pick<Config['realtime'], 'apiKey' | 'tokenRsaPublicKey' | 'tokenEcdsaPublicKey' | 'tokenJwksUrl' | 'tokenAudience' | 'tokenIssuer'>): TokenKeys {
  return {
    hmacSecret: config.apiKey,
    rsaPublicKey: config.tokenRsaPublicKey,
    ecdsaPublicKey: config.tokenEcdsaPublicKey,
    jwksUrl: config.tokenJwksUrl,
    audience: config.tokenAudience,
    issuer: config.tokenIssuer,
  };
}

export class TokenVerifier {
  readonly #hmac: Uint8Array | null;
  readonly #rsa: KeyObject | null;
  readonly #ec: KeyObject | null;
  readonly #jwks: JwksKeySet | null;
  readonly #options: JWTVerifyOptions;

  /**
   * A string is the HS256 key alone (realtime.apiKey). Without any key no token is valid.
   * PEM keys are expected to have passed the config's checks (src/config/token-keys.ts).
   */
  constructor(keys: string | undefined | TokenKeys, options: TokenVerifierOptions = {}) {
    const k: TokenKeys = typeof keys === 'object' ? keys : { hmacSecret: keys };
    this.#hmac = k.hmacSecret ? new TextEncoder().encode(k.hmacSecret) : null;
    this.#rsa = k.rsaPublicKey ? createPublicKey(k.rsaPublicKey) : null;
    this.#ec = k.ecdsaPublicKey ? createPublicKey(k.ecdsaPublicKey) : null;
    this.#jwks = k.jwksUrl ? new JwksKeySet(k.jwksUrl, { ...options.jwks, ...(options.log ? { log: options.log } : {}) }) : null;
    const algorithms: string[] = [];
    if (this.#hmac) algorithms.push('HS256');
    if (this.#rsa || this.#jwks) algorithms.push(...RSA_ALGORITHMS);
    if (this.#ec || this.#jwks) algorithms.push(...Object.keys(EC_CURVE_OF));
    this.#options = {
      algorithms,
      ...(k.audience ? { audience: k.audience } : {}),
      ...(k.issuer ? { issuer: k.issuer } : {}),
    };
  }

  /** A verifier for the node's realtime config. */
  static fromConfig(config: Parameters<typeof tokenKeysOf>[0], options: TokenVerifierOptions = {}): TokenVerifier {
    return new TokenVerifier(tokenKeysOf(config), options);
  }

  /** The JWKS key set, when one is configured (tests count its fetches). */
  get jwks(): JwksKeySet | null {
    return this.#jwks;
  }

  /**
   * The key for a token's `alg`. HS256 only ever gets the HMAC secret and RS/PS/ES only public
   * keys, so a token "signed" with the public key as an HMAC secret finds nothing to match.
   * A token with a `kid` goes to the JWKS when there is one; without a `kid` the configured
   * PEM key of its family is used (or the JWKS, which then needs a single matching key).
   */
  #keyFor = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Uint8Array | KeyObject | Awaited<ReturnType<JwksKeySet['key']>>> => {
    const alg = header.alg ?? '';
    if (alg === 'HS256') {
      if (!this.#hmac) invalid('HS256 tokens need realtime.apiKey, which is not set');
      return this.#hmac;
    }
    const family = (RSA_ALGORITHMS as readonly string[]).includes(alg) ? this.#rsa : Object.hasOwn(EC_CURVE_OF, alg) ? this.#ec : undefined;
    if (family === undefined) invalid(`algorithm ${alg} is not accepted`);
    if (this.#jwks && (header.kid !== undefined || family === null)) return this.#jwks.key(header, token);
    if (family === null) invalid(`no key is configured for ${alg} tokens`);
    if (Object.hasOwn(EC_CURVE_OF, alg) && family.asymmetricKeyDetails?.namedCurve !== EC_CURVE_OF[alg]) invalid(`the configured ECDSA key does not verify ${alg} tokens`);
    return family;
  };

  async #verify(token: string): Promise<JWTPayload> {
    if (this.#options.algorithms!.length === 0) invalid('no key is configured to verify tokens');
    try {
      const { payload } = await jwtVerify(token, this.#keyFor, this.#options);
      return payload;
    } catch (err) {
      if (err instanceof TokenError) throw err;
      if (err instanceof JwksUnavailableError) throw new TokenError('unavailable', err.message);
      // jose validates the signature before the claims, so an expired token is authentic.
      if (err instanceof joseErrors.JWTExpired) throw new TokenError('expired', 'token expired');
      throw new TokenError('invalid', err instanceof Error ? err.message : 'invalid token');
    }
  }

  /** Verifies a connection token; throws TokenError. */
  async verifyConnection(token: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<ConnectionClaims> {
    const payload = await this.#verify(token);
    // A subscription token must not open a connection.
    if (payload.channel !== undefined) invalid('a subscription token is not a connection token');
    const expireAt = expiry(payload);
    if (expireAt > 0 && expireAt <= nowSeconds) throw new TokenError('expired', 'connection expired');
    const channelsRaw = payload.channels;
    let channels: string[] = [];
    if (channelsRaw !== undefined && channelsRaw !== null) {
      if (!Array.isArray(channelsRaw) || !channelsRaw.every((c) => typeof c === 'string' && c.length > 0)) {
        invalid('claim channels must be an array of channel names');
      }
      channels = channelsRaw as string[];
    }
    const subs: Record<string, ServerSubClaim> = {};
    const subsRaw = payload.subs;
    if (subsRaw !== undefined && subsRaw !== null) {
      if (typeof subsRaw !== 'object' || Array.isArray(subsRaw)) invalid('claim subs must be an object');
      for (const [channel, v] of Object.entries(subsRaw as Record<string, unknown>)) {
        if (channel.length === 0) invalid('claim subs has an empty channel');
        if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid('claim subs entries must be objects');
        const o = v as Record<string, unknown>;
        const sub: ServerSubClaim = {};
        const info = jsonOrB64(o, 'info');
        if (info !== undefined) sub.info = info;
        const data = jsonOrB64(o, 'data');
        if (data !== undefined) sub.data = data;
        const override = parseOverride(o.override);
        if (override) sub.override = override;
        subs[channel] = sub;
      }
    }
    const user = optString(payload, 'sub');
    if (isReservedUserId(user)) invalid(`claim sub must not start with "${RESERVED_USER_PREFIX}": those ids are the node's own principals`);
    return {
      user,
      expireAt,
      info: jsonOrB64(payload, 'info'),
      channels,
      subs,
      meta: payload.meta,
    };
  }

  /** Verifies a subscription token; throws TokenError. The caller checks user/channel/client. */
  async verifySubscription(token: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<SubscriptionClaims> {
    const payload = await this.#verify(token);
    const channel = optString(payload, 'channel');
    if (channel === '') invalid('claim channel is required in a subscription token');
    const expireAt = expiry(payload);
    if (expireAt > 0 && expireAt <= nowSeconds) throw new TokenError('expired', 'subscription expired');
    const claims: SubscriptionClaims = {
      user: optString(payload, 'sub'),
      channel,
      client: optString(payload, 'client'),
      expireAt,
      info: jsonOrB64(payload, 'info'),
      data: jsonOrB64(payload, 'data'),
    };
    const override = parseOverride(payload.override);
    if (override) claims.override = override;
    return claims;
  }
}
