import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LIMITS } from '../../domain/validation.js';
import { actorOf } from '../auth.js';
import type { HttpContext } from '../context.js';
import { AUTH_ERRORS, changeSchema, SECURED, withErrors } from '../schemas.js';

const changesQuery = z.object({
  from: z.coerce.number().int().min(1).optional().describe('First serial to return (default 1)'),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSize.max).optional().describe(`Most changes to return (default ${LIMITS.pageSize.default})`),
});
const changesPage = z.object({
  items: z.array(changeSchema),
  next: z.number().int().describe('The serial to ask for next (`from`); equals `from` when nothing new was returned'),
  nextCursor: z.string().nullable().describe('`next` as a string when `limit` serials were read (more may follow), null when the log is read to its end'),
});

/**
 * GET /api/v1/changes: the change log in serial order. The owner (and owner nodes) read all of
 * it; an application user the changes of channels it may read (Operator.getChanges).
 */
export const changeRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { core }) => {
  app.get(
    '/api/v1/changes',
    {
      config: { auth: 'actor' },
      schema: {
        tags: ['changes'],
        operationId: 'listChanges',
        summary: 'The change log from a serial (owner; a user: the changes of channels it may read)',
        security: SECURED,
        querystring: changesQuery,
        response: withErrors({ 200: changesPage }, AUTH_ERRORS),
      },
    },
    async (request) => {
      const limit = request.query.limit ?? LIMITS.pageSize.default;
      const { changes, next, full } = await core.operator.getChanges(actorOf(request), { from: request.query.from, limit });
      return { items: changes, next, nextCursor: full ? String(next) : null };
    },
  );
};
