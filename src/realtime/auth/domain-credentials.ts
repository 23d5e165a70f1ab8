/**
 * Bridges between realtime credentials and domain actors, so one token works everywhere:
 * - `jwtActorResolver`: a connection JWT authenticates REST requests as the app user it names
 *   (structurally an http ActorResolver; realtime does not import the http layer).
 * - `ownerSessionCredentials`: an owner (or node) session token opens a realtime connection
 *   with owner rights (namespace access level `owner`), e.g. for the web console.
 */
import { hasOwnerRights, type Actor } from '../../domain/actor.js';
import type { OwnerSessions } from '../../domain/owner-sessions.js';
import { isMycelError, MycelError } from '../../errors.js';
import type { ConnectCredentials } from '../context.js';
import { nodeUserId, OWNER_USER_ID } from './principals.js';
import { TokenError, type TokenVerifier } from './tokens.js';

const JWT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface JwtActorResolver {
  readonly name: string;
  resolve(token: string): Promise<Actor | null>;
}

/** REST auth with a connection JWT: `sub` becomes a `user` actor. Non-JWT tokens are left to other resolvers. */
export function jwtActorResolver(verifier: TokenVerifier): JwtActorResolver {
  return {
    name: 'realtime-jwt',
    async resolve(token) {
      if (!JWT_RE.test(token)) return null;
      try {
        const claims = await verifier.verifyConnection(token);
        if (claims.user === '') throw new MycelError('UNAUTHENTICATED', { reason: 'the token names no user' });
        return { kind: 'user', userId: claims.user };
      } catch (err) {
        if (err instanceof TokenError) {
          // Not the client's fault: the keys that check its token cannot be fetched right now (503).
          if (err.kind === 'unavailable') throw new MycelError('TOKEN_KEYS_UNAVAILABLE');
          throw new MycelError(err.kind === 'expired' ? 'SESSION_EXPIRED' : 'UNAUTHENTICATED', { reason: `token ${err.kind}` });
        }
        throw err;
      }
    },
  };
}

/** Realtime connect with an owner/node session token; the user is `mycel:owner` or `mycel:node:<id>` (principals.ts). */
export function ownerSessionCredentials(sessions: OwnerSessions): ConnectCredentials {
  return async (token) => {
    let actor: Actor | null;
    try {
      actor = await sessions.resolve(token);
    } catch (err) {
      // The protocol has no "session expired" for a connect credential: like an unknown token,
      // it is an invalid token (3500), and the client gets a fresh one.
      if (isMycelError(err) && err.code === 'SESSION_EXPIRED') return null;
      throw err;
    }
    if (!actor) return null;
    const user = actor.kind === 'node' ? nodeUserId(actor.nodeId) : OWNER_USER_ID;
    return { user, owner: hasOwnerRights(actor) };
  };
}
