// For the `request.cookies` type that @fastify/cookie adds.
import type {} from '@fastify/cookie';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { hasOwnerRights, SYSTEM, type Actor } from '../domain/actor.js';
import type { OwnerSessions } from '../domain/owner-sessions.js';
import { MycelError } from '../errors.js';

/** The cookie that carries an owner session token for browsers. */
export const SESSION_COOKIE = 'mycel_session';

/**
 * What a route needs: `none` (public), `actor` (any authenticated actor; the domain decides
 * what that actor may do) or `owner` (owner-equivalent actors only). Routes that do not say
 * need `actor`, so a forgotten declaration fails closed.
 */
export type AuthRequirement = 'none' | 'actor' | 'owner';

/** Where the credential came from; only cookies carry ambient authority, so only they need CSRF checks. */
export type CredentialSource = 'bearer' | 'cookie';

export interface Credential {
  token: string;
  source: CredentialSource;
}

/** Who a request is authenticated as, and by which credential. */
export interface Authenticated {
  actor: Actor;
  source: CredentialSource;
  /** Name of the resolver that accepted the token. */
  resolver: string;
  token: string;
}

/**
 * Turns a token into an actor. Resolvers are tried in order: return null when the token is
 * not of your kind (the next one is tried), the actor when it is valid, or throw a MycelError
 * (UNAUTHENTICATED, SESSION_EXPIRED) when it is of your kind but not acceptable. The realtime
 * layer adds one for its connection JWTs so an app can write posts over REST.
 */
export interface ActorResolver {
  readonly name: string;
  /**
   * Whether this resolver's tokens may arrive in the session cookie (default no). Only the
   * sessions POST /api/v1/session issues travel there: a JWT an app placed in a cookie would
   * gain the cookie's ambient authority, so it is accepted in `Authorization: Bearer` only.
   */
  readonly cookie?: boolean;
  resolve(token: string, source: CredentialSource): Promise<Actor | null>;
}

/** Owner (and node) session tokens issued by POST /api/v1/session. */
export function ownerSessionResolver(sessions: OwnerSessions): ActorResolver {
  return {
    name: 'owner-session',
    cookie: true,
    resolve(token) {
      // Unknown to the session table: perhaps another resolver's token. Expired stays an error (401 SESSION_EXPIRED).
      return sessions.resolve(token);
    },
  };
}

/**
 * The shared node's client token (`mycel serve --auth-group`, docs/shared-node.md), in
 * `Authorization: Bearer` only: whoever holds it acts as the node itself (the `system` actor,
 * owner rights), since every member of the group can read the whole store anyway.
 */
export function clientTokenResolver(accepts: (token: string) => boolean): ActorResolver {
  return {
    name: 'client-token',
    async resolve(token, source) {
      return source === 'bearer' && accepts(token) ? SYSTEM : null;
    },
  };
}

// Generous bound: real tokens are 43 (sessions) to a few hundred (JWT) characters.
const MAX_TOKEN_CHARS = 8192;

/**
 * The request's credential: `Authorization: Bearer` wins over the cookie, so a client that
 * sends a token is never treated as cookie-authenticated (and never needs CSRF headers).
 */
export function readCredential(request: FastifyRequest): Credential | null {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
    if (!match || match[1]!.length > MAX_TOKEN_CHARS) {
      throw new MycelError('UNAUTHENTICATED', { reason: 'the Authorization header must be `Bearer <token>`' });
    }
    return { token: match[1]!, source: 'bearer' };
  }
  const cookie = request.cookies?.[SESSION_COOKIE];
  if (cookie !== undefined && cookie !== '') {
    if (cookie.length > MAX_TOKEN_CHARS) throw new MycelError('UNAUTHENTICATED', { reason: 'the session cookie is not valid' });
    return { token: cookie, source: 'cookie' };
  }
  return null;
}

/** Tries each resolver in order (for a cookie, those that accept cookies); a token none of them knows is UNAUTHENTICATED. */
export async function authenticate(resolvers: readonly ActorResolver[], credential: Credential): Promise<Authenticated> {
  const fromCookie = credential.source === 'cookie';
  for (const resolver of resolvers) {
    if (fromCookie && resolver.cookie !== true) continue;
    const actor = await resolver.resolve(credential.token, credential.source);
    if (actor) return { actor, source: credential.source, resolver: resolver.name, token: credential.token };
  }
  throw new MycelError('UNAUTHENTICATED', {
    reason: fromCookie ? 'the session cookie is not valid: it carries only sessions from POST /api/v1/session' : 'the token is not valid',
  });
}

/** How the request is authenticated; a route that declared `auth: 'none'` has nothing here. */
export function authOf(request: FastifyRequest): Authenticated {
  if (!request.auth) throw new MycelError('UNAUTHENTICATED');
  return request.auth;
}

/** The actor of an authenticated request. */
export function actorOf(request: FastifyRequest): Actor {
  return authOf(request).actor;
}

/** Checks a resolved request against what its route declared. */
export function enforce(requirement: AuthRequirement, auth: Authenticated | null): void {
  if (requirement === 'none') return;
  if (!auth) throw new MycelError('UNAUTHENTICATED');
  if (requirement === 'owner' && !hasOwnerRights(auth.actor)) throw new MycelError('FORBIDDEN', { reason: 'owner only' });
}

/**
 * Installs authentication on the root instance: an onRequest hook (before the body is read,
 * so an unauthenticated client cannot make us parse a large body) that resolves the
 * credential, stores it on `request.auth` and enforces the route's `config.auth`.
 */
export function installAuth(app: FastifyInstance, resolvers: readonly ActorResolver[]): void {
  app.decorateRequest('auth', null);
  app.addHook('onRequest', async (request) => {
    // Unknown routes answer 404/405 whoever asks.
    if (request.is404) return;
    const requirement = request.routeOptions.config.auth ?? 'actor';
    if (requirement === 'none') return;
    const credential = readCredential(request);
    request.auth = credential ? await authenticate(resolvers, credential) : null;
    enforce(requirement, request.auth);
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on routes that need an actor; null on public routes. */
    auth: Authenticated | null;
  }
  interface FastifyContextConfig {
    /** What the route needs; default `actor`. */
    auth?: AuthRequirement;
  }
}
