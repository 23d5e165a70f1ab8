import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HttpContext } from '../context.js';
import { packageVersion } from '../../lib/package-version.js';
import { PUBLIC, uuid } from '../schemas.js';

const API_BASE = '/api/v1';

const links = z.object({
  openapi: z.string().describe('The OpenAPI 3.1 document of this API'),
  node: z.string().describe('The node profile'),
  session: z.string().describe('Owner login'),
  channels: z.string(),
  changes: z.string(),
  realtime: z.string().describe('The realtime WebSocket endpoint (Centrifugo client protocol)'),
  health: z.string(),
  ready: z.string(),
  metrics: z.string(),
});

const apiIndex = z.object({
  api: z.literal('mycel'),
  apiVersion: z.literal('v1'),
  version: z.string().describe('Mycel version this node runs'),
  links,
  docs: z.string().describe('Where the documentation is'),
});

const serverIndex = z.object({
  server: z.literal('mycel'),
  version: z.string(),
  node: z.object({ id: uuid, name: z.string() }),
  api: z.string().describe('Base path of the REST API'),
  links,
});

const LINKS: z.infer<typeof links> = {
  openapi: `${API_BASE}/openapi.json`,
  node: `${API_BASE}/node`,
  session: `${API_BASE}/session`,
  channels: `${API_BASE}/channels`,
  changes: `${API_BASE}/changes`,
  realtime: '/connection/websocket',
  health: '/healthz',
  ready: '/readyz',
  metrics: '/metrics',
};

const DOCS = 'docs/api.md in the Mycel package (README.md lists every document); the API itself is described by links.openapi';

/** GET / (what this server is) and GET /api/v1 (what the API offers): both public, no secrets. */
export const rootRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { core }) => {
  app.get(
    '/',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['node'],
        operationId: 'serverIndex',
        summary: 'What this server is: a Mycel node, its version and where its APIs are',
        security: PUBLIC,
        response: { 200: serverIndex },
      },
    },
    async () => ({
      server: 'mycel' as const,
      version: packageVersion(),
      node: { id: core.node.id, name: core.node.name },
      api: API_BASE,
      links: LINKS,
    }),
  );

  app.get(
    API_BASE,
    {
      config: { auth: 'none' },
      schema: {
        tags: ['node'],
        operationId: 'apiIndex',
        summary: 'The REST API: its version and links to its description',
        security: PUBLIC,
        response: { 200: apiIndex },
      },
    },
    async () => ({ api: 'mycel' as const, apiVersion: 'v1' as const, version: packageVersion(), links: LINKS, docs: DOCS }),
  );
};
