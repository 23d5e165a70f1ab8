import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LIMITS } from '../../domain/validation.js';
import { actorOf } from '../auth.js';
import type { HttpContext } from '../context.js';
import { AUTH_ERRORS, pageOf, pageQuery, postSchema, SECURED, uuid, withErrors } from '../schemas.js';
import { storableJsonObject, storableText } from '../stored-input.js';

const channelParams = z.object({ channelId: uuid });
const postParams = z.object({ postId: uuid });
const meta = storableJsonObject;
const createBody = z
  .object({
    body: storableText(LIMITS.postBodyChars),
    meta: meta.optional(),
    blobRefs: z.array(z.string()).max(LIMITS.blobRefs).optional().describe('`sha256://<64 hex>` or `sha1://<40 hex>`'),
  })
  .strict();
const editBody = z.object({ body: storableText(LIMITS.postBodyChars).optional(), meta: meta.optional() }).strict();
const createHeaders = z.object({
  'idempotency-key': z
    .string()
    .optional()
    .describe(
      `Makes a retried write exactly-once: a post already written into the channel under this key (1 to ${LIMITS.idempotencyKeyChars} printable ASCII characters) is returned instead of writing another`,
    ),
});
const listQuery = pageQuery.extend({
  order: z.enum(['asc', 'desc']).optional().describe('By seq; `desc` gives the newest first (default `asc`)'),
});

const WRITE_ERRORS = [...AUTH_ERRORS, 404, 413, 415] as const;

/** Posts of a channel (list, create) and single posts (get, edit, delete). */
export const postRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { core }) => {
  const ops = core.operator;
  const tags = ['posts'];

  app.get(
    '/api/v1/channels/:channelId/posts',
    {
      schema: {
        tags,
        operationId: 'listPosts',
        summary: 'Posts of a channel in seq order, tombstones included',
        security: SECURED,
        params: channelParams,
        querystring: listQuery,
        response: withErrors({ 200: pageOf(postSchema) }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request) => {
      const { cursor, limit, order } = request.query;
      return ops.listPosts(actorOf(request), request.params.channelId, { cursor, limit, reverse: order === 'desc' });
    },
  );

  app.post(
    '/api/v1/channels/:channelId/posts',
    {
      schema: {
        tags,
        operationId: 'createPost',
        summary: 'Write a post into a channel',
        security: SECURED,
        params: channelParams,
        headers: createHeaders,
        body: createBody,
        response: withErrors({ 201: postSchema }, WRITE_ERRORS),
      },
    },
    async (request, reply) => {
      const idempotencyKey = request.headers['idempotency-key'];
      const post = await ops.createPost(actorOf(request), {
        channelId: request.params.channelId,
        ...request.body,
        ...(idempotencyKey !== undefined ? { idempotencyKey } : {}),
      });
      return reply.code(201).send(post);
    },
  );

  app.get(
    '/api/v1/posts/:postId',
    {
      schema: {
        tags,
        operationId: 'getPost',
        summary: 'One post (a deleted one is a tombstone)',
        security: SECURED,
        params: postParams,
        response: withErrors({ 200: postSchema }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request) => ops.getPost(actorOf(request), request.params.postId),
  );

  app.patch(
    '/api/v1/posts/:postId',
    {
      schema: {
        tags,
        operationId: 'editPost',
        summary: 'Edit a post’s body and/or meta (owner, or the user who wrote it)',
        security: SECURED,
        params: postParams,
        body: editBody,
        response: withErrors({ 200: postSchema }, [...WRITE_ERRORS, 409]),
      },
    },
    async (request) => ops.editPost(actorOf(request), request.params.postId, request.body),
  );

  app.delete(
    '/api/v1/posts/:postId',
    {
      schema: {
        tags,
        operationId: 'deletePost',
        summary: 'Delete a post; answers with its tombstone',
        security: SECURED,
        params: postParams,
        response: withErrors({ 200: postSchema }, [...AUTH_ERRORS, 404, 409]),
      },
    },
    async (request) => ops.deletePost(actorOf(request), request.params.postId),
  );
};
