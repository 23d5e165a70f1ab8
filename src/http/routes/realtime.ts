/**
 * The realtime endpoints on the HTTP server (everything but the bidirectional WebSocket, which
 * `attachWebSocket` serves on the upgrade event):
 *
 *   POST /connection/http_stream      bidirectional emulation, HTTP-streaming (body = connect command)
 *   GET  /connection/sse              bidirectional emulation, SSE (?cf_connect=<connect command>)
 *   POST /emulation                   later commands of those two: {session, node, data}; 204
 *   POST /connection/uni_http_stream  unidirectional, HTTP-streaming (body = ConnectRequest)
 *   GET  /connection/uni_sse          unidirectional, SSE (?cf_connect=<ConnectRequest>)
 *   GET  /connection/uni_websocket    unidirectional WebSocket (upgrade; first message = ConnectRequest)
 *   OPTIONS on the above              CORS preflight, 204
 *   POST /api, /api/batch, /api/:method   the server API (realtime-api.ts)
 *
 * Connections authenticate with the token in their connect command, never with cookies, so
 * every origin may use them (CORS `*`, no credentials). The server API authenticates by API
 * key only. None of these routes uses the app's bearer/cookie authentication (`auth: 'none'`).
 *
 * Streams are taken over from fastify (`reply.hijack()`) and written by the transports in
 * src/realtime/transports. Closing the app ends them: a preClose hook disconnects their
 * sessions with 3001 (shutdown, the client reconnects elsewhere), so `app.close()` does not
 * wait on open streams. Call `realtime.shutdown()` before `app.close()` to do the same for
 * every transport.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { MycelError } from '../../errors.js';
import { utf8LongerThan } from '../../lib/text-size.js';
import { waitAtMost } from '../../lib/wait.js';
import type { Logger } from '../../log.js';
import { DISCONNECTS } from '../../realtime/protocol/codes.js';
import type { RealtimeNode } from '../../realtime/realtime-node.js';
import { ServerApi } from '../../realtime/server-api.js';
import { EMULATION_MAX_BYTES, handleEmulationRequest } from '../../realtime/transports/emulation.js';
import { HTTP_STREAM } from '../../realtime/transports/http-stream.js';
import { serveResponseStream, type ResponseStreamTransport } from '../../realtime/transports/response-stream.js';
import { SSE, SSE_CONNECT_PARAMS } from '../../realtime/transports/sse.js';
import { serveUniResponseStream, uniConnectCommand } from '../../realtime/transports/unidirectional.js';
import { attachUniWebSocket } from '../../realtime/transports/uni-websocket.js';
import { errorHandler, sendError } from '../errors.js';
import { charsetRefusal } from '../json-body.js';
import { realtimeApiRoutes } from './realtime-api.js';

export interface RealtimeRoutesDeps {
  realtime: RealtimeNode;
  /** The node's config (FrozenConfig or Config): server.bodyLimit bounds API bodies, realtime.apiKey guards the API. */
  config: {
    readonly server: { readonly bodyLimit: number };
    readonly realtime: { readonly apiKey?: string | undefined; readonly apiKeyFailuresPerMinute?: number | undefined };
  };
  /** Logger of the server API; default: the app's. */
  log?: Logger;
  /** Serve /connection/uni_websocket on the app's upgrade event (default true). */
  uniWebSocket?: boolean;
  /** How long shutdown waits for streams to drain after the disconnect push (default 1000 ms). */
  closeGraceMs?: number;
}

/** Paths of the emulation and streaming endpoints. */
export const REALTIME_PATHS = {
  httpStream: '/connection/http_stream',
  sse: '/connection/sse',
  emulation: '/emulation',
  uniHttpStream: '/connection/uni_http_stream',
  uniSse: '/connection/uni_sse',
  uniWebSocket: '/connection/uni_websocket',
} as const;

/** CORS on responses to browsers: any origin, no credentials (connections carry their token in the body). */
function corsHeaders(): Record<string, string> {
  return { 'Access-Control-Allow-Origin': '*' };
}

function preflight(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const asked = request.headers['access-control-request-headers'];
  return reply
    .code(204)
    .headers({
      ...corsHeaders(),
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
      'Access-Control-Allow-Headers': typeof asked === 'string' && asked !== '' && asked !== 'null' ? asked : 'Content-Type',
      'Access-Control-Max-Age': '600',
    })
    .send();
}

function queryParam(req: IncomingMessage, names: readonly string[]): string | null {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q === -1) return null;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const name of names) {
    const v = params.get(name);
    if (v !== null) return v;
  }
  return null;
}

function bodyText(request: FastifyRequest): string {
  return typeof request.body === 'string' ? request.body : '';
}

/** The streaming endpoints and /emulation, in a scope of their own (text bodies, their limits). */
const connectionRoutes: FastifyPluginAsync<{ realtime: RealtimeNode; closeGraceMs: number }> = async (app, { realtime, closeGraceMs }) => {
  const maxConnect = realtime.config.maxMessageBytes;
  const open = new Set<ResponseStreamTransport>();

  // The client sends application/json, but bodies are read as text: the session parses the
  // connect command itself (a malformed one is disconnect 3501, as on WebSocket).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    const charset = charsetRefusal(request);
    if (charset !== null) done(new MycelError('UNSUPPORTED_MEDIA_TYPE', { reason: charset }), undefined);
    else done(null, body);
  });
  // With CORS headers, so a browser client sees e.g. a 413 as a refused command, not a network error.
  app.setErrorHandler((err, request, reply) => errorHandler(err, request, reply.headers(corsHeaders())));

  const track = (transport: ResponseStreamTransport, reply: FastifyReply): void => {
    open.add(transport);
    reply.raw.once('close', () => open.delete(transport));
  };
  const refuse = (reply: FastifyReply, error: MycelError): FastifyReply => {
    reply.headers(corsHeaders());
    return sendError(reply, error);
  };
  const connectTooLarge = (): MycelError =>
    new MycelError('BODY_TOO_LARGE', { limit: maxConnect }, `the connect request is larger than realtime.maxMessageBytes (${maxConnect} bytes)`);

  const base = { config: { auth: 'none' as const } };
  // The SSE URLs carry the connect token (EventSource cannot send a body): keep them out of info logs.
  const sseRoute = { ...base, logLevel: 'warn' as const };

  app.post(REALTIME_PATHS.httpStream, { ...base, bodyLimit: maxConnect }, async (request, reply) => {
    const frame = bodyText(request);
    if (frame.trim() === '') return refuse(reply, new MycelError('VALIDATION_FAILED', { field: 'body' }, 'the body must be the connect command'));
    reply.hijack();
    track(serveResponseStream(HTTP_STREAM, realtime, request.raw, reply.raw, frame, { headers: corsHeaders(), closeGraceMs }), reply);
    return reply;
  });

  app.get(REALTIME_PATHS.sse, sseRoute, async (request, reply) => {
    const frame = queryParam(request.raw, SSE_CONNECT_PARAMS);
    if (frame === null || frame.trim() === '') {
      return refuse(reply, new MycelError('VALIDATION_FAILED', { field: 'cf_connect' }, 'cf_connect must hold the connect command'));
    }
    if (utf8LongerThan(frame, maxConnect)) return refuse(reply, connectTooLarge());
    reply.hijack();
    track(serveResponseStream(SSE, realtime, request.raw, reply.raw, frame, { headers: corsHeaders(), closeGraceMs }), reply);
    return reply;
  });

  app.post(REALTIME_PATHS.uniHttpStream, { ...base, bodyLimit: maxConnect }, async (request, reply) => {
    const command = uniConnectCommand(bodyText(request));
    if (command === null) return refuse(reply, new MycelError('BAD_JSON', { field: 'body' }, 'the body must be a ConnectRequest JSON object'));
    reply.hijack();
    track(serveUniResponseStream(HTTP_STREAM, realtime, request.raw, reply.raw, command, { headers: corsHeaders(), closeGraceMs }), reply);
    return reply;
  });

  app.get(REALTIME_PATHS.uniSse, sseRoute, async (request, reply) => {
    const raw = queryParam(request.raw, SSE_CONNECT_PARAMS) ?? '';
    if (utf8LongerThan(raw, maxConnect)) return refuse(reply, connectTooLarge());
    const command = uniConnectCommand(raw);
    if (command === null) return refuse(reply, new MycelError('BAD_JSON', { field: 'cf_connect' }, 'cf_connect must be a ConnectRequest JSON object'));
    reply.hijack();
    track(serveUniResponseStream(SSE, realtime, request.raw, reply.raw, command, { headers: corsHeaders(), closeGraceMs }), reply);
    return reply;
  });

  app.post(REALTIME_PATHS.emulation, { ...base, bodyLimit: EMULATION_MAX_BYTES }, async (request, reply) => {
    const outcome = await handleEmulationRequest(realtime, bodyText(request));
    if (outcome.status === 204) return reply.code(204).headers(corsHeaders()).send();
    if (outcome.status === 404) return refuse(reply, new MycelError('REALTIME_SESSION_NOT_FOUND', undefined, outcome.message));
    return refuse(reply, new MycelError('VALIDATION_FAILED', { field: 'body' }, outcome.message));
  });

  for (const path of [REALTIME_PATHS.httpStream, REALTIME_PATHS.sse, REALTIME_PATHS.emulation, REALTIME_PATHS.uniHttpStream, REALTIME_PATHS.uniSse]) {
    app.options(path, base, async (request, reply) => preflight(request, reply));
  }

  // Ends open streams before the server waits for its connections: each gets the disconnect
  // push (3001, reconnect) and its response ends; peers that do not read are cut off.
  app.addHook('preClose', async () => {
    if (open.size === 0) return;
    const ended = [...open].map(
      (t) =>
        new Promise<void>((resolve) => {
          t.session?.close(DISCONNECTS.shutdown);
          if (open.has(t)) t.onEnd(resolve);
          else resolve();
        }),
    );
    await waitAtMost(Promise.all(ended), closeGraceMs);
    for (const t of open) t.destroy();
  });
};

/**
 * The realtime endpoints as a fastify plugin (encapsulated: its body parsers and error
 * handlers apply to its own routes only). Prefer `registerRealtimeRoutes`.
 */
export const realtimeRoutes: FastifyPluginAsync<RealtimeRoutesDeps> = async (app, deps) => {
  const { realtime, config } = deps;
  const closeGraceMs = deps.closeGraceMs ?? 1000;
  const api = new ServerApi(realtime, { log: deps.log ?? (app.log as unknown as Logger) });
  await app.register(realtimeApiRoutes, {
    api,
    apiKey: config.realtime.apiKey,
    bodyLimit: config.server.bodyLimit,
    keyFailuresPerMinute: config.realtime.apiKeyFailuresPerMinute,
  });
  await app.register(connectionRoutes, { realtime, closeGraceMs });
  if (deps.uniWebSocket ?? true) {
    const uni = attachUniWebSocket(app.server, realtime, { path: REALTIME_PATHS.uniWebSocket });
    // preClose: upgraded sockets are not the HTTP server's to close, and it would wait for them.
    app.addHook('preClose', async () => {
      await uni.close(closeGraceMs);
    });
  }
};

/**
 * Mounts the realtime endpoints (HTTP-streaming/SSE emulation, /emulation, unidirectional
 * SSE/HTTP-streaming/WebSocket, and the server API under /api) on `app`. Call before
 * `app.listen()`/`app.ready()`. The bidirectional WebSocket is separate:
 * `attachWebSocket(app.server, realtime)`.
 */
export async function registerRealtimeRoutes(app: FastifyInstance, deps: RealtimeRoutesDeps): Promise<void> {
  await app.register(realtimeRoutes, deps);
}
