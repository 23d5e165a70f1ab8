import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_NODE_CHANNEL_PATTERNS } from '../../domain/client-nodes.js';
import { NODE_DATA_ROLES, NODE_WRITE_ACCESS } from '../../model/content.js';
import { actorOf } from '../auth.js';
import type { HttpContext } from '../context.js';
import { checkLoginRequest } from '../csrf.js';
import { AUTH_ERRORS, clientNodeSchema, noContent, PUBLIC, SECURED, uuid, withErrors } from '../schemas.js';

const nodeParams = z.object({ nodeId: uuid });
const password = z.string().min(1).max(4096);
const role = z.enum(NODE_DATA_ROLES).describe('`child` pulls from this node, `parent` is pulled by it, `both` does either');
const asOwner = z.boolean().describe('Whether the node has the owner\'s rights on this node (remote administration)');
const writeAccess = z.enum(NODE_WRITE_ACCESS).describe('Whether writes the node forwards to this node are accepted');
const channels = z
  .array(z.string().min(1).max(300))
  .max(MAX_NODE_CHANNEL_PATTERNS)
  .describe('Channel names and `namespace:*` patterns the node may pull and write; empty means every channel');

const loginBody = z.object({ nodeId: z.string().min(1).max(100), password }).strict();
const issuedSession = z.object({
  token: z.string().describe('Send as `Authorization: Bearer <token>`, or as the realtime connect token'),
  expiresAt: z.number().int().describe('Milliseconds since the Unix epoch (UTC); log in again after it'),
});
const createBody = z
  .object({
    nodeId: uuid,
    password: password.describe('At least 8 characters; stored as an scrypt hash'),
    role: role.optional().describe('Default `child`'),
    asOwner: asOwner.optional().describe('Default false'),
    writeAccess: writeAccess.optional().describe('Default `read-only`'),
    channels: channels.optional().describe('Default empty: every channel'),
  })
  .strict();
const updateBody = z
  .object({
    password: password.optional().describe('A new password; the node\'s sessions end'),
    role: role.optional(),
    asOwner: asOwner.optional(),
    writeAccess: writeAccess.optional(),
    channels: channels.optional(),
  })
  .strict();
const nodeList = z.object({ items: z.array(clientNodeSchema) });

const WRITE_ERRORS = [...AUTH_ERRORS, 413, 415] as const;

/**
 * /api/v1/nodes: the client nodes allowed to connect to this node (owner only), and their
 * log-in. The registry is this node's own configuration: none of it enters the change log.
 */
export const nodesRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { core, config, publicOrigin }) => {
  const tags = ['nodes'];

  app.post(
    '/api/v1/nodes/session',
    {
      // The owner log-in's limit and setting: each address gets that many attempts per minute at each.
      config: { auth: 'none', rateLimit: { max: config.server.loginAttemptsPerMinute, timeWindow: 60_000 } },
      onRequest: async (request) => checkLoginRequest(request, publicOrigin()),
      schema: {
        tags,
        operationId: 'nodeLogin',
        summary: 'Log in as a registered client node',
        description:
          'Rate-limited to server.loginAttemptsPerMinute attempts per client address per minute. An unknown node id and a wrong password get the same answer (INVALID_CREDENTIALS). The session expires after server.sessionMinutes: a request with it then answers 401 SESSION_EXPIRED, and the node logs in again. Sets no cookie.',
        security: PUBLIC,
        body: loginBody,
        response: withErrors({ 201: issuedSession }, [400, 401, 403, 413, 415, 429, 500, 503]),
      },
    },
    async (request, reply) => reply.code(201).send(await core.nodeSessions.login(request.body.nodeId, request.body.password)),
  );

  app.get(
    '/api/v1/nodes',
    {
      config: { auth: 'owner' },
      schema: {
        tags,
        operationId: 'listNodes',
        summary: 'The registered client nodes (owner)',
        security: SECURED,
        response: withErrors({ 200: nodeList }, AUTH_ERRORS),
      },
    },
    async (request) => ({ items: await core.clientNodes.list(actorOf(request)) }),
  );

  app.post(
    '/api/v1/nodes',
    {
      config: { auth: 'owner' },
      schema: {
        tags,
        operationId: 'registerNode',
        summary: 'Register a client node (owner)',
        security: SECURED,
        body: createBody,
        response: withErrors({ 201: clientNodeSchema }, [...WRITE_ERRORS, 409]),
      },
    },
    async (request, reply) => reply.code(201).send(await core.clientNodes.register(actorOf(request), request.body)),
  );

  app.get(
    '/api/v1/nodes/:nodeId',
    {
      config: { auth: 'owner' },
      schema: {
        tags,
        operationId: 'getNodeRegistration',
        summary: 'A registered client node (owner)',
        security: SECURED,
        params: nodeParams,
        response: withErrors({ 200: clientNodeSchema }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request) => core.clientNodes.get(actorOf(request), request.params.nodeId),
  );

  app.patch(
    '/api/v1/nodes/:nodeId',
    {
      config: { auth: 'owner' },
      schema: {
        tags,
        operationId: 'updateNode',
        summary: 'Change a client node (owner); a new password ends its sessions',
        security: SECURED,
        params: nodeParams,
        body: updateBody,
        response: withErrors({ 200: clientNodeSchema }, [...WRITE_ERRORS, 404]),
      },
    },
    async (request) => (await core.clientNodes.set(actorOf(request), request.params.nodeId, request.body)).node,
  );

  app.delete(
    '/api/v1/nodes/:nodeId',
    {
      config: { auth: 'owner' },
      schema: {
        tags,
        operationId: 'removeNode',
        summary: 'Remove a client node and end its sessions (owner)',
        security: SECURED,
        params: nodeParams,
        response: withErrors({ 204: noContent }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request, reply) => {
      await core.clientNodes.remove(actorOf(request), request.params.nodeId);
      return reply.code(204).send(null);
    },
  );
};
