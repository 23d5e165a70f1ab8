import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import fastifyCookie from '@fastify/cookie';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { publicUrl, type FrozenConfig } from '../config/load.js';
import type { NodeCore } from '../domain/node-core.js';
import { MycelError } from '../errors.js';
import type { ReadinessCheck } from '../lib/readiness.js';
import type { Logger } from '../log.js';
import type { SseLinkEndpoint } from '../network/link-server.js';
import type { BlobFetching } from '../blobs/blob-fetcher.js';
import type { BlobStore } from '../blobs/blob-store.js';
import type { NetworkService } from '../network/network-service.js';
import { installAuth, ownerSessionResolver, SESSION_COOKIE, type ActorResolver } from './auth.js';
import type { HttpContext } from './context.js';
import { installCors } from './cors.js';
import { installCsrf } from './csrf.js';
import { errorHandler, frameworkErrorHandlerFor, MAX_PARAM_CHARS, sendError } from './errors.js';
import { installJsonBodyParser } from './json-body.js';
import { limitPendingConnections } from './pending-connections.js';
import { clientErrorHandler } from './raw-errors.js';
import { installHttpMetrics } from './metrics.js';
import { installNotFound } from './not-found.js';
import { packageVersion } from '../lib/package-version.js';
import { changeStreamRoutes } from './routes/change-stream.js';
import { changeRoutes } from './routes/changes.js';
import { computeRoutes } from './routes/compute.js';
import type { ComputeService } from '../compute/compute-service.js';
import { blobRoutes } from './routes/blobs.js';
import { channelRoutes } from './routes/channels.js';
import { digestRoutes } from './routes/digest.js';
import { healthRoutes } from './routes/health.js';
import { linkRoutes } from './routes/links.js';
import { metricsRoutes } from './routes/metrics.js';
import { nodeRoutes } from './routes/node.js';
import { networkRoutes } from './routes/network.js';
import { nodeLinkRoutes } from './routes/node-link.js';
import { nodesRoutes } from './routes/nodes.js';
import { openapiRoutes } from './routes/openapi.js';
import { postRoutes } from './routes/posts.js';
import { rootRoutes } from './routes/root.js';
import { sessionRoutes } from './routes/session.js';
import { apiSchemas } from './schemas.js';
import { requestLogSerializer } from './log-serializers.js';

export interface HttpAppOptions {
  config: FrozenConfig;
  core: NodeCore;
  log: Logger;
  /** The process's metrics registry; served at /metrics, shared with other parts (realtime). */
  metrics: Registry;
  /**
   * Further ways to turn a bearer token into an actor, tried after owner sessions (the realtime
   * layer adds its connection JWT so apps can write posts over REST).
   */
  actorResolvers?: readonly ActorResolver[];
  /** Lets /readyz report SHUTTING_DOWN as soon as the node (src/node/assemble.ts) starts draining, before app.close(). */
  isShuttingDown?: () => boolean;
  /** Back-ends besides the database that /readyz must find ready (Redis, later blobs, compute). */
  readinessChecks?: readonly ReadinessCheck[];
  /** Quiet interval of GET /api/v1/changes/stream before a heartbeat (default 15 s; tests shorten it). */
  changeStreamHeartbeatMs?: number;
  /** The node network, for /api/v1/network (NETWORK_UNAVAILABLE without it). */
  network?: NetworkService;
  /** The server side of node links over SSE (GET /api/v1/nodes/link/events and its POSTs). */
  nodeLinks?: SseLinkEndpoint;
  /** The blob store behind /api/v1/blobs (503 NOT_READY without it). */
  blobs?: BlobStore;
  /** Brings in bytes of blobs this node knows of but lacks, from other nodes (absent: never). */
  blobFetcher?: BlobFetching;
  /** The compute service behind /api/v1/compute (absent: those routes answer NOT_READY). */
  compute?: ComputeService;
}

/** Paths that keep answering while the app closes: probes must see the node going away. */
const PROBES = new Set(['/healthz', '/readyz']);

/**
 * Builds the HTTP app: /api/v1 routes, /healthz, /readyz, /metrics, auth, CSRF, error mapping
 * and the OpenAPI document. It does not listen (tests use `inject()`, the node assembly calls listen()).
 * More routes may be registered on the returned instance before it is ready; they need an
 * actor unless their route config says `auth: 'none'`.
 */
export async function buildHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const { config, core, log, metrics } = options;
  let closing = false;
  const isShuttingDown = (): boolean => closing || (options.isShuttingDown?.() ?? false);

  const httpLog = log.child({ module: 'http' }, { serializers: { req: requestLogSerializer } });
  const { requestTimeoutMs } = config.server;
  // Node requires headersTimeout <= requestTimeout.
  const headersTimeoutMs = Math.min(config.server.headersTimeoutMs, requestTimeoutMs);
  const app = Fastify({
    // URLs can carry secrets (?api_key=, ?cf_connect=): the request serializer takes them out.
    loggerInstance: httpLog,
    bodyLimit: config.server.bodyLimit,
    genReqId: () => randomUUID(),
    // Fastify's own 503 body is not ours; the onRequest hook below answers SHUTTING_DOWN instead.
    return503OnClosing: false,
    // Node's timeouts cover receiving the request only (line, headers, body): a response that
    // streams for hours (SSE, HTTP-streaming) is not cut once its request is in.
    requestTimeout: requestTimeoutMs,
    http: {
      headersTimeout: headersTimeoutMs,
      requestTimeout: requestTimeoutMs,
      // Node looks for expired requests every 30 s by default, far too coarse for a 10 s limit.
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
      // Node would answer a missing Host itself, with an empty 400; the onRequest hook below does it in the registry's shape.
      requireHostHeader: false,
    },
    // `/api/v1/channels/` is `/api/v1/channels`, for every method.
    routerOptions: { maxParamLength: MAX_PARAM_CHARS, ignoreTrailingSlash: true },
    // Parse errors and timeouts Node answers before any route: the registry's body and a request id.
    clientErrorHandler: clientErrorHandler(httpLog),
    // Malformed URLs (bad percent-encoding, an over-long path parameter) go through the same
    // error mapping, or through a prefix's own (the server API answers in its own shape).
    frameworkErrors: (err, request, reply) => {
      reply.header('x-request-id', request.id);
      return (frameworkErrorHandlerFor(app, request.url) ?? errorHandler)(err, request, reply);
    },
  }) as unknown as FastifyInstance;
  limitPendingConnections(app.server, config.server.maxPendingConnectionsPerAddress, httpLog);
  // Node answers an `Expect` other than 100-continue with an empty 417 unless someone listens;
  // the expectation is ignored instead (RFC 9110 allows it) and the request served as usual.
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => app.server.emit('request', req, res));

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Errors of requests no route took (a body refused on an unknown path) answer in the path's own shape too.
  app.setErrorHandler((err, request, reply) => (frameworkErrorHandlerFor(app, request.url) ?? errorHandler)(err as FastifyError, request, reply));
  // JSON only: a text/plain body is refused with 415 rather than reaching the schemas as a string.
  app.removeContentTypeParser('text/plain');
  installJsonBodyParser(app);
  installNotFound(app);

  await app.register(fastifyCookie);
  await app.register(fastifyRateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => new MycelError('RATE_LIMITED', { retryAfterSeconds: Math.ceil(context.ttl / 1000) }),
  });
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Mycel node API',
        version: packageVersion(),
        description:
          'JSON over REST. Times are milliseconds since the Unix epoch. Errors are `{ "error": { "code", "message", "details" } }`; see docs/errors.md.',
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: "Session token from POST /api/v1/session (owner) or POST /api/v1/nodes/session (client node), or a shared node's client token (docs/shared-node.md)" },
          cookieAuth: {
            type: 'apiKey',
            in: 'cookie',
            name: SESSION_COOKIE,
            description: 'Set by POST /api/v1/session; state-changing requests must send an Origin (or Referer) equal to the public URL',
          },
        },
      },
    },
    transform: createJsonSchemaTransform({ schemaRegistry: apiSchemas }),
    transformObject: createJsonSchemaTransformObject({ schemaRegistry: apiSchemas }),
  });

  // With server.port 0 and no public port, the origin's port is the one the server got.
  let knownOrigin: string | undefined;
  const origin = (): string => {
    if (knownOrigin !== undefined) return knownOrigin;
    const address = app.server.address();
    const bound = address !== null && typeof address === 'object' ? address.port : undefined;
    const value = publicUrl(config, bound);
    if (config.server.port !== 0 || bound !== undefined) knownOrigin = value;
    return value;
  };

  installHttpMetrics(app, metrics);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // Also on the raw response: streams (SSE, HTTP-streaming) take it over and write their own head.
    reply.raw.setHeader('x-request-id', request.id);
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) {
      reply.header('connection', 'close');
      return sendError(reply, new MycelError('MALFORMED_REQUEST', { reason: 'an HTTP/1.1 request must have a Host header' }));
    }
    if (closing && !PROBES.has(request.url.split('?')[0] ?? '')) {
      reply.header('connection', 'close');
      return sendError(reply, new MycelError('SHUTTING_DOWN'));
    }
    return undefined;
  });
  // Before authentication: a preflight carries no credential.
  await installCors(app, config.server.corsOrigins);
  const resolvers = [ownerSessionResolver(core.sessions), ...(options.actorResolvers ?? [])];
  installAuth(app, resolvers);
  installCsrf(app, origin);
  app.addHook('preClose', async () => {
    closing = true;
  });

  const context: HttpContext = { config, core, metrics, publicOrigin: origin, isShuttingDown, readinessChecks: options.readinessChecks ?? [], ...(options.network ? { network: options.network } : {}), ...(options.nodeLinks ? { nodeLinks: options.nodeLinks } : {}), ...(options.blobs ? { blobs: options.blobs } : {}), ...(options.blobFetcher ? { blobFetcher: options.blobFetcher } : {}) };
  await app.register(rootRoutes, context);
  await app.register(nodeRoutes, context);
  await app.register(sessionRoutes, context);
  await app.register(nodesRoutes, context);
  await app.register(networkRoutes, context);
  await app.register(nodeLinkRoutes, context);
  await app.register(channelRoutes, context);
  await app.register(postRoutes, context);
  await app.register(linkRoutes, context);
  await app.register(blobRoutes, context);
  await app.register(changeRoutes, context);
  await app.register(changeStreamRoutes, { ...context, resolvers, ...(options.changeStreamHeartbeatMs === undefined ? {} : { heartbeatMs: options.changeStreamHeartbeatMs }) });
  await app.register(computeRoutes, { ...context, compute: options.compute });
  await app.register(digestRoutes, context);
  await app.register(openapiRoutes, context);
  await app.register(healthRoutes, context);
  await app.register(metricsRoutes, context);
  return app;
}
