import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LIMITS } from '../../domain/validation.js';
import { actorOf } from '../auth.js';
import type { HttpContext } from '../context.js';
import { AUTH_ERRORS, channelSchema, noContent, pageOf, pageQuery, SECURED, uuid, withErrors } from '../schemas.js';
import { storableText } from '../stored-input.js';

const channelParams = z.object({ channelId: uuid });
const createBody = z
  .object({
    name: z.string().min(1).max(LIMITS.channelNameChars).describe('`namespace:name` or `name`'),
    description: storableText(LIMITS.descriptionChars).optional(),
  })
  .strict();
const updateBody = z.object({ description: storableText(LIMITS.descriptionChars) }).strict();

const WRITE_ERRORS = [...AUTH_ERRORS, 413, 415] as const;

/** /api/v1/channels: list, create, get, update, delete. */
export const channelRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { core }) => {
  const ops = core.operator;
  const tags = ['channels'];

  app.get(
    '/api/v1/channels',
    {
      schema: {
        tags,
        operationId: 'listChannels',
        summary: 'Channels in creation order, or the one channel of a name',
        security: SECURED,
        querystring: pageQuery.extend({
          name: z
            .string()
            .max(LIMITS.channelNameChars)
            .optional()
            .describe('Only the channel of this name: a page with that channel, or with none when it does not exist or may not be read'),
        }),
        response: withErrors({ 200: pageOf(channelSchema) }, AUTH_ERRORS),
      },
    },
    async (request) => ops.listChannels(actorOf(request), request.query),
  );

  app.post(
    '/api/v1/channels',
    {
      schema: {
        tags,
        operationId: 'createChannel',
        summary: 'Create a channel (owner)',
        security: SECURED,
        body: createBody,
        response: withErrors({ 201: channelSchema }, [...WRITE_ERRORS, 409]),
      },
    },
    async (request, reply) => reply.code(201).send(await ops.createChannel(actorOf(request), request.body)),
  );

  app.get(
    '/api/v1/channels/:channelId',
    {
      schema: {
        tags,
        operationId: 'getChannel',
        summary: 'One channel',
        security: SECURED,
        params: channelParams,
        response: withErrors({ 200: channelSchema }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request) => ops.getChannel(actorOf(request), request.params.channelId),
  );

  app.patch(
    '/api/v1/channels/:channelId',
    {
      schema: {
        tags,
        operationId: 'updateChannel',
        summary: 'Change a channel’s description (owner)',
        security: SECURED,
        params: channelParams,
        body: updateBody,
        response: withErrors({ 200: channelSchema }, [...WRITE_ERRORS, 404]),
      },
    },
    async (request) => ops.updateChannel(actorOf(request), request.params.channelId, request.body),
  );

  app.delete(
    '/api/v1/channels/:channelId',
    {
      schema: {
        tags,
        operationId: 'deleteChannel',
        summary: 'Delete a channel with its posts and their links (owner)',
        security: SECURED,
        params: channelParams,
        response: withErrors({ 204: noContent }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request, reply) => {
      await ops.deleteChannel(actorOf(request), request.params.channelId);
      return reply.code(204).send(null);
    },
  );
};
