import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HttpContext } from '../context.js';
import { PUBLIC } from '../schemas.js';

/** GET /metrics: Prometheus text format of the shared registry (HTTP, process, realtime…). */
export const metricsRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { metrics }) => {
  app.get(
    '/metrics',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['health'],
        operationId: 'metrics',
        summary: 'Prometheus metrics (text exposition format)',
        security: PUBLIC,
        response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
      },
    },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.metrics()),
  );
};
