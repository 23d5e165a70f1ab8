import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HttpContext } from '../context.js';
import { packageVersion } from '../../lib/package-version.js';
import { PUBLIC, uuid, withErrors } from '../schemas.js';

const nodeProfile = z.object({
  id: uuid,
  name: z.string(),
  version: z.string().describe('Mycel version this node runs'),
  createdAt: z.number().int().describe('Milliseconds since the Unix epoch (UTC)'),
  schemaVersion: z.number().int().describe('Database schema version'),
});

/** GET /api/v1/node: the node's public profile. */
export const nodeRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { core }) => {
  app.get(
    '/api/v1/node',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['node'],
        operationId: 'getNode',
        summary: 'The node profile',
        security: PUBLIC,
        response: withErrors({ 200: nodeProfile }, [500, 503]),
      },
    },
    async () => ({
      id: core.node.id,
      name: core.node.name,
      version: packageVersion(),
      createdAt: core.node.createdAt,
      schemaVersion: await core.storage.schemaVersion(),
    }),
  );
};
