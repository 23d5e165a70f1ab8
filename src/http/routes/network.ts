import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MycelError } from '../../errors.js';
import type { NetworkService } from '../../network/network-service.js';
import type { HttpContext } from '../context.js';
import { apiSchemas, AUTH_ERRORS, noContent, SECURED, withErrors } from '../schemas.js';

const timeMs = z.number().int().describe('Milliseconds since the Unix epoch (UTC)');
const serverRole = z
  .enum(['child', 'parent', 'both'])
  .describe('This node\'s data role towards the server: `child` pulls from it, `parent` is pulled by it, `both` does either');
const serverTransport = z
  .enum(['auto', 'websocket', 'sse'])
  .describe('`websocket`, `sse` (SSE + HTTP), or `auto`: WebSocket, falling back to SSE when the server refuses the upgrade');

/** Entries added at run time have UUIDs; those of network.servers are `config-N`, N from 1 in the order written. */
const serverId = z
  .string()
  .regex(/^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|config-[1-9][0-9]{0,5})$/i, { message: 'must be a server entry id: a UUID, or config-N' })
  .describe('A UUID for an entry added at run time; `config-N` for the N-th entry of network.servers');

export const serverEntrySchema = z
  .object({
    id: serverId,
    url: z.string(),
    role: serverRole,
    transport: serverTransport,
    source: z.enum(['config', 'runtime']).describe('`config`: from network.servers (remove it there); `runtime`: added over REST or `mycel nodes connect`'),
    createdAt: timeMs.nullable(),
  })
  .register(apiSchemas, { id: 'ServerEntry', description: 'A server this node connects to; its password is never shown' });

export const linkStatusSchema = z
  .object({
    id: z.string().describe('The server entry id (servers), or the link id (clients)'),
    url: z.string().optional().describe('Servers only'),
    peerNodeId: z.string().nullable(),
    peerName: z.string().nullable(),
    roles: z.object({ pull: z.boolean(), serve: z.boolean() }).describe('This node\'s data roles on the link: it pulls the peer\'s log, it serves its own'),
    transport: z.enum(['websocket', 'sse']).nullable(),
    state: z.enum(['connecting', 'connected', 'backoff', 'stopped']),
    cursor: z.number().int().nullable().describe('The peer serial imported so far (when pulling)'),
    lagChanges: z.number().nullable().describe('Changes of the peer not imported yet'),
    lagSeconds: z.number().nullable(),
    lastError: z.object({ code: z.string(), message: z.string(), at: timeMs }).nullable(),
    sessionExpiresAt: timeMs.nullable(),
    importedTotal: z.number().int(),
    sentTotal: z.number().int(),
  })
  .register(apiSchemas, { id: 'LinkStatus' });

const networkStatus = z.object({
  servers: z.array(linkStatusSchema).describe('Links this node opened, one per server entry'),
  clients: z.array(linkStatusSchema).describe('Links client nodes opened to this node'),
});

/** An http(s) URL with nothing in it that could be a secret (no user or password, no query). */
const serverUrl = z
  .string()
  .max(2048)
  .refine(
    (value) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return false;
      }
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
    },
    { message: 'must be an http:// or https:// URL without credentials, query or fragment' },
  )
  .describe('The server\'s base URL, e.g. `https://parent.example.org`');

const connectBody = z
  .object({
    url: serverUrl,
    password: z.string().min(1).max(4096).describe('The password this node is registered with at the server; stored to log in again, never shown'),
    role: serverRole.optional().describe('Default `child`'),
    transport: serverTransport.optional().describe('Default `auto`'),
  })
  .strict();
const serverParams = z.object({ id: serverId });
const serverList = z.object({ items: z.array(serverEntrySchema) });

/** The node's network service, or NETWORK_UNAVAILABLE when it runs without one. */
function serviceOf(network: NetworkService | undefined): NetworkService {
  if (!network) throw new MycelError('NETWORK_UNAVAILABLE');
  return network;
}

/**
 * /api/v1/network: the links of the node network and the servers this node connects to
 * (owner, or a client node with owner rights: remote administration).
 */
export const networkRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, { network }) => {
  const tags = ['network'];

  app.get(
    '/api/v1/network/status',
    {
      config: { auth: 'owner' },
      schema: {
        tags,
        operationId: 'networkStatus',
        summary: 'Each link to a server and from a client node: roles, transport, cursor, lag, last error, session expiry (owner)',
        security: SECURED,
        response: withErrors({ 200: networkStatus }, AUTH_ERRORS),
      },
    },
    async () => serviceOf(network).status(),
  );

  app.get(
    '/api/v1/network/servers',
    {
      config: { auth: 'owner' },
      schema: {
        tags,
        operationId: 'listNetworkServers',
        summary: 'The servers this node connects to, from the configuration and added at run time; never their passwords (owner)',
        security: SECURED,
        response: withErrors({ 200: serverList }, AUTH_ERRORS),
      },
    },
    async () => ({ items: serviceOf(network).listServers() }),
  );

  app.post(
    '/api/v1/network/servers',
    {
      config: { auth: 'owner' },
      schema: {
        tags,
        operationId: 'connectNetworkServer',
        summary: 'Connect to a server: add a server entry (kept in the database) and start its link (owner)',
        description: 'This node must be registered at the server (`mycel nodes add <this node id>` there) with the same password. The reply never carries the password.',
        security: SECURED,
        body: connectBody,
        response: withErrors({ 201: serverEntrySchema }, [...AUTH_ERRORS, 413, 415]),
      },
    },
    async (request, reply) => {
      const { url, password, role, transport } = request.body;
      const entry = await serviceOf(network).addServer({ url, password, role: role ?? 'child', ...(transport ? { transport } : {}) });
      return reply.code(201).send(entry);
    },
  );

  app.delete(
    '/api/v1/network/servers/:id',
    {
      config: { auth: 'owner' },
      schema: {
        tags,
        operationId: 'disconnectNetworkServer',
        summary: 'Disconnect from a server added at run time and forget its entry (owner)',
        security: SECURED,
        params: serverParams,
        response: withErrors({ 204: noContent }, [...AUTH_ERRORS, 404]),
      },
    },
    async (request, reply) => {
      await serviceOf(network).removeServer(request.params.id);
      return reply.code(204).send(null);
    },
  );
};
