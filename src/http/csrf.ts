import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MycelError } from '../errors.js';
import { originOf } from './origin.js';

/** Methods that change state: a cookie-authenticated one must prove it comes from our own pages. */
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function reject(expected: string, got: string | null, header: 'origin' | 'referer' | null): never {
  throw new MycelError('CSRF_REJECTED', { expected, got, header });
}

/**
 * The origin a request claims to come from: the `Origin` header, or when a browser left it out,
 * the origin of `Referer`. `Origin: null` (sandboxed frames, some redirects) proves nothing.
 */
function claimedOrigin(request: FastifyRequest): { origin: string | null; header: 'origin' | 'referer' | null } {
  const origin = request.headers.origin;
  if (origin !== undefined) return { origin: origin === 'null' ? null : originOf(origin), header: 'origin' };
  const referer = request.headers.referer;
  if (referer !== undefined) return { origin: originOf(referer), header: 'referer' };
  return { origin: null, header: null };
}

/**
 * A state-changing request authenticated by the session cookie must carry an Origin (or
 * Referer) equal to the node's public origin. Bearer-token requests have no ambient authority
 * and are exempt.
 */
export function checkCookieRequest(request: FastifyRequest, publicOrigin: string): void {
  if (request.auth?.source !== 'cookie' || !STATE_CHANGING.has(request.method)) return;
  const { origin, header } = claimedOrigin(request);
  if (origin !== publicOrigin) reject(publicOrigin, origin, header);
}

/**
 * Login CSRF: a cross-site page could log a browser into an attacker's session. Non-browser
 * clients send no Origin and are let through; a browser always sends one on POST.
 */
export function checkLoginRequest(request: FastifyRequest, publicOrigin: string): void {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  const claimed = origin === 'null' ? null : originOf(origin);
  if (claimed !== publicOrigin) reject(publicOrigin, claimed, 'origin');
}

/** Adds the cookie check after authentication (hooks run in the order they were added). */
export function installCsrf(app: FastifyInstance, publicOrigin: () => string): void {
  app.addHook('onRequest', async (request) => {
    checkCookieRequest(request, publicOrigin());
  });
}
