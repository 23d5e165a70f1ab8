import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LIMITS } from '../../domain/validation.js';
import { actorOf } from '../auth.js';
import type { HttpContext } from '../context.js';
import { AUTH_ERRORS, linkSchema, noContent, pageOf, SECURED, uuid, withErrors } from '../schemas.js';
import { storableText } from '../stored-input.js';

const createBody = z
  .object({ fromPostId: uuid, toPostId: uuid, label: storableText(LIMITS.labelChars).optional().describe('Default: empty') })
  .strict();

/** Links between posts: create, get, delete, and the links of a post. */
export const linkRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { core }) => {
  const ops = core.operator;
  const tags = ['links'];

  app.post(
    '/api/v1/links',
    {
      schema: {
        tags,
        operationId: 'createLink',
        summary: 'Link one post to another with a label',
        security: SECURED,
        body: createBody,
        response: withErrors({ 201: linkSchema }, [...AUTH_ERRORS, 404, 409, 413, 415]),
      },
    },
    async (request, reply) => reply.code(201).send(await ops.createLink(actorOf(request), request.body)),
  );

  app.get(
    '/api/v1/links/:linkId',
    {
      schema: {
        tags,
        operationId: 'getLink',
        summary: 'One link',
        security: SECURED,
        params: z.object({ linkId: uuid }),
        response: withErrors({ 200: linkSchema }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request) => ops.getLink(actorOf(request), request.params.linkId),
  );

  app.delete(
    '/api/v1/links/:linkId',
    {
      schema: {
        tags,
        operationId: 'deleteLink',
        summary: 'Remove a link',
        security: SECURED,
        params: z.object({ linkId: uuid }),
        response: withErrors({ 204: noContent }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request, reply) => {
      await ops.deleteLink(actorOf(request), request.params.linkId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/v1/posts/:postId/links',
    {
      schema: {
        tags,
        operationId: 'listPostLinks',
        summary: 'Links from or to a post, in creation order (one page: nextCursor is always null)',
        security: SECURED,
        params: z.object({ postId: uuid }),
        response: withErrors({ 200: pageOf(linkSchema) }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request) => ({ items: await ops.listLinks(actorOf(request), request.params.postId), nextCursor: null }),
  );
};
