import fastifyCors from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** Where CORS applies: the REST API and the realtime server API. Realtime transports set their own. */
function isApiPath(request: FastifyRequest): boolean {
  return request.url.startsWith('/api/') || request.url === '/api';
}

/** Request headers a browser app may send: its credential, JSON, and the write-retry key. */
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-API-Key'];
/** Response headers a browser app may read. */
const EXPOSED_HEADERS = ['x-request-id', 'retry-after'];

/**
 * Cross-origin access for browser apps on the configured origins (`server.corsOrigins`). No
 * credentials mode: a cross-origin app authenticates with a bearer token (its realtime JWT or an
 * owner session token), never with the session cookie, so CSRF stays a same-origin matter.
 * Preflights are answered before authentication (the browser sends them without credentials).
 */
export async function installCors(app: FastifyInstance, origins: readonly string[]): Promise<void> {
  if (origins.length === 0) return;
  const origin = origins.includes('*') ? '*' : [...origins];
  await app.register(fastifyCors, {
    hook: 'onRequest',
    delegator: (request, callback) => {
      if (!isApiPath(request)) return callback(null, { origin: false });
      callback(null, {
        origin,
        methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
        allowedHeaders: ALLOWED_HEADERS,
        exposedHeaders: EXPOSED_HEADERS,
        credentials: false,
        maxAge: 600,
        // A bare OPTIONS (no Origin) gets the ordinary answer instead of a plain-text 400.
        strictPreflight: false,
      });
    },
  });
}
