import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HttpContext } from '../context.js';
import { PUBLIC } from '../schemas.js';

/** GET /api/v1/openapi.json: the OpenAPI 3.1 document generated from the route schemas. */
export const openapiRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { publicOrigin }) => {
  app.get(
    '/api/v1/openapi.json',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['node'],
        operationId: 'openapi',
        summary: 'This document',
        security: PUBLIC,
        response: { 200: z.record(z.string(), z.unknown()) },
      },
    },
    // The server URL is filled in per request: with server.port 0 it is known only once listening.
    async () => ({ ...(app.swagger() as unknown as Record<string, unknown>), servers: [{ url: publicOrigin() }] }),
  );
};
