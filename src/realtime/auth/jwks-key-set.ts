/**
 * The JSON Web Key Set at realtime.tokenJwksUrl, as the token verifier reads it. jose's remote
 * set does the caching (keys are fetched again after `maxAgeMs`), picks the key by `kid`, and
 * fetches again for an unknown `kid` at most once per `cooldownMs`. This wrapper adds what
 * rotation and outages need: a token is refused as invalid only by a set fetched for it. An
 * unknown `kid` during the cooldown (a key the issuer may have published a moment ago) and an
 * endpoint that is down are temporary (JwksUnavailableError), so clients retry instead of being
 * told for good that their token is bad. Keys fetched earlier keep verifying while the endpoint
 * is down, failed fetches are not retried for `retryAfterFailureMs` (no fetch per connection
 * attempt), and the outage is logged once.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
} from 'jose';
import type { Logger } from '../../log.js';

export interface JwksOptions {
  /** Milliseconds one fetch of the set may take. Default 5 s. */
  timeoutMs?: number;
  /** After a fetch, an unknown `kid` does not cause another one for this long. Default 5 s. */
  cooldownMs?: number;
  /** Keys older than this are fetched again before use. Default 10 minutes. */
  maxAgeMs?: number;
  /** After a failed fetch, no other is tried for this long; tokens are answered from the keys at hand. Default 5 s. */
  retryAfterFailureMs?: number;
}

export const JWKS_DEFAULTS = { timeoutMs: 5_000, cooldownMs: 5_000, maxAgeMs: 600_000, retryAfterFailureMs: 5_000 } as const;

/** The set cannot be fetched (down, timed out, not 200, not a key set) and the keys at hand do not decide. */
export class JwksUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JwksUnavailableError';
  }
}

type Key = Awaited<ReturnType<ReturnType<typeof createLocalJWKSet>>>;

/** Errors that say something about the token (its `kid` or `alg`), not about the endpoint. */
function isTokenFault(err: unknown): boolean {
  return err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys || err instanceof joseErrors.JOSENotSupported;
}

export class JwksKeySet {
  readonly #url: string;
  readonly #log: Logger | undefined;
  readonly #retryAfterFailureMs: number;
  readonly #remote: ReturnType<typeof createRemoteJWKSet>;
  #failedAt = Number.NEGATIVE_INFINITY;
  #down = false;
  #fetches = 0;

  constructor(url: string, options: JwksOptions & { log?: Logger } = {}) {
    this.#url = url;
    this.#log = options.log;
    this.#retryAfterFailureMs = options.retryAfterFailureMs ?? JWKS_DEFAULTS.retryAfterFailureMs;
    this.#remote = createRemoteJWKSet(new URL(url), {
      timeoutDuration: options.timeoutMs ?? JWKS_DEFAULTS.timeoutMs,
      cooldownDuration: options.cooldownMs ?? JWKS_DEFAULTS.cooldownMs,
      cacheMaxAge: options.maxAgeMs ?? JWKS_DEFAULTS.maxAgeMs,
      [customFetch]: async (input: string | URL | Request, init?: RequestInit) => {
        this.#fetches++;
        const response = await fetch(input, init);
        if (response.status === 200) this.#reachable();
        return response;
      },
    });
  }

  /** Fetches started so far (for tests and diagnostics). */
  get fetches(): number {
    return this.#fetches;
  }

  /** The key that verifies a token with this header; jose calls it from jwtVerify. */
  async key(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Key> {
    if (Date.now() - this.#failedAt < this.#retryAfterFailureMs) return this.#fromKeysAtHand(header, token, undefined);
    // Whether a fetch decides this token: one in flight now (jose waits for it) or one it starts.
    const fetchesBefore = this.#fetches;
    const inFlight = this.#remote.reloading;
    try {
      return await this.#remote(header, token);
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey && !inFlight && this.#fetches === fetchesBefore) {
        throw new JwksUnavailableError('the token\'s key id is not in the key set, which is fetched again after a short cooldown', { cause: err });
      }
      if (isTokenFault(err)) throw err;
      this.#failed(err);
      return this.#fromKeysAtHand(header, token, err);
    }
  }

  /** During an outage: the keys fetched last, if they hold the token's key; else "unavailable". */
  async #fromKeysAtHand(header: JWSHeaderParameters, token: FlattenedJWSInput, cause: unknown): Promise<Key> {
    const known: JSONWebKeySet | undefined = this.#remote.jwks();
    if (known) {
      try {
        return await createLocalJWKSet(known)(header, token);
      } catch (err) {
        // An unknown kid may be a new key the endpoint would have served: not the token's fault.
        if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err;
      }
    }
    throw new JwksUnavailableError('the token key set (JWKS) cannot be fetched', { cause });
  }

  #failed(err: unknown): void {
    this.#failedAt = Date.now();
    if (this.#down) return;
    this.#down = true;
    const reason = err instanceof Error ? err.message : String(err);
    this.#log?.warn({ url: this.#url, reason }, 'the token key set (JWKS) cannot be fetched; tokens it verifies are answered as temporary errors until it can');
  }

  #reachable(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#failedAt = Number.NEGATIVE_INFINITY;
    this.#log?.info({ url: this.#url }, 'the token key set (JWKS) can be fetched again');
  }
}
