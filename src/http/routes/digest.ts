import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { contentDigest } from '../../domain/digest.js';
import type { HttpContext } from '../context.js';
import { AUTH_ERRORS, SECURED, withErrors } from '../schemas.js';

const sha256 = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const kindDigest = z.object({
  count: z.number().int().describe('How many entities of this kind the node holds'),
  digest: sha256.describe('sha256 over the kind’s entities in id order, each as canonical JSON and a newline'),
});
const digestBody = z.object({
  digest: sha256.describe('The whole content: equal on two nodes holding the same channels, posts and links'),
  channels: kindDigest,
  posts: kindDigest,
  links: kindDigest,
  computeProjects: kindDigest.optional().describe('Present only when the node holds compute projects'),
  computeClients: kindDigest.optional().describe('Present only when the node holds compute clients'),
  computeJobs: kindDigest.optional().describe('Present only when the node holds compute jobs'),
  computeTasks: kindDigest.optional().describe('Present only when the node holds compute tasks'),
});

/** GET /api/v1/digest: the canonical digest of the replicated content (owner only). */
export const digestRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { core }) => {
  app.get(
    '/api/v1/digest',
    {
      config: { auth: 'owner' },
      schema: {
        tags: ['node'],
        operationId: 'getDigest',
        summary: 'A digest of the replicated content, to compare two nodes (owner)',
        security: SECURED,
        response: withErrors({ 200: digestBody }, AUTH_ERRORS),
      },
    },
    async () => contentDigest(core.storage),
  );
};
