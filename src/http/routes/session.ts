import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authOf, SESSION_COOKIE } from '../auth.js';
import type { HttpContext } from '../context.js';
import { checkLoginRequest } from '../csrf.js';
import { actorSchema, AUTH_ERRORS, noContent, PUBLIC, SECURED, withErrors } from '../schemas.js';

const loginBody = z.object({ password: z.string().min(1).max(4096) }).strict();
const issuedSession = z.object({
  token: z.string().describe('Send as `Authorization: Bearer <token>`; browsers may rely on the cookie instead'),
  expiresAt: z.number().int().describe('Milliseconds since the Unix epoch (UTC)'),
});
const whoAmI = z.object({ actor: actorSchema, source: z.enum(['bearer', 'cookie']) });

/** POST (log in), GET (who am I) and DELETE (log out) /api/v1/session. */
export const sessionRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { core, config, publicOrigin }) => {
  // The cookie is Secure whenever browsers reach the node over https, so it never travels in clear.
  const cookieBase = { path: '/', httpOnly: true, sameSite: 'strict', secure: config.server.publicUrl.scheme === 'https' } as const;

  app.post(
    '/api/v1/session',
    {
      config: { auth: 'none', rateLimit: { max: config.server.loginAttemptsPerMinute, timeWindow: 60_000 } },
      // Before the rate limiter (which is added after this hook), so a cross-site form cannot use up a user's attempts.
      onRequest: async (request) => checkLoginRequest(request, publicOrigin()),
      schema: {
        tags: ['session'],
        operationId: 'login',
        summary: 'Log in as the owner with the node password',
        description: `Rate-limited to server.loginAttemptsPerMinute attempts per client address per minute. Also sets the HttpOnly, SameSite=Strict cookie \`${SESSION_COOKIE}\`.`,
        security: PUBLIC,
        body: loginBody,
        response: withErrors({ 201: issuedSession }, [400, 401, 403, 413, 415, 429, 500, 503]),
      },
    },
    async (request, reply) => {
      const issued = await core.sessions.login(request.body.password);
      reply.setCookie(SESSION_COOKIE, issued.token, { ...cookieBase, expires: new Date(issued.expiresAt) });
      return reply.code(201).send(issued);
    },
  );

  app.get(
    '/api/v1/session',
    {
      schema: {
        tags: ['session'],
        operationId: 'whoAmI',
        summary: 'The actor the request is authenticated as',
        security: SECURED,
        response: withErrors({ 200: whoAmI }, AUTH_ERRORS),
      },
    },
    async (request) => {
      const { actor, source } = authOf(request);
      return { actor, source };
    },
  );

  app.delete(
    '/api/v1/session',
    {
      schema: {
        tags: ['session'],
        operationId: 'logout',
        summary: 'Log out: the session token stops working and the cookie is cleared',
        security: SECURED,
        response: withErrors({ 204: noContent }, AUTH_ERRORS),
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      // Other credential kinds (an app's JWT) are not sessions of this node; there is nothing to end.
      if (auth.resolver === 'owner-session') await core.sessions.logout(auth.token);
      reply.clearCookie(SESSION_COOKIE, cookieBase);
      return reply.code(204).send(null);
    },
  );
};
