/**
 * The Centrifugo-compatible server API over HTTP (the thin adapter of src/realtime/server-api.ts):
 *
 *   POST /api/<method>   body = params            → {"result":{..}} | {"error":{"code","message"}}
 *   POST /api/batch      {"commands":[..],"parallel"?} → {"result":{"replies":[..]}}
 *   POST /api            legacy pipeline: {"method","params"} per line → {"result"}|{"error"} per line
 *
 * The key goes in the `X-API-Key` header or `Authorization: apikey <key>`. A key in the URL
 * (`?api_key=`) is refused with 401, even a right one: URLs end up in logs and browser
 * history. Every answer is JSON (cent.js calls `res.json()` on whatever comes back): API errors
 * are HTTP 200 with `{"error"}`, as in Centrifugo; a missing or wrong key is 401, a body that is
 * not JSON 400, one over the body limit 413, an unknown method 404 — all with an `{"error"}`
 * body in the same shape.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS } from '../../realtime/protocol/codes.js';
import { ServerApi, type ApiReply } from '../../realtime/server-api.js';

export interface RealtimeApiDeps {
  api: ServerApi;
  /** realtime.apiKey; without one the API answers 401 to everyone. */
  apiKey: string | undefined;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
}

const JSON_TYPE = 'application/json; charset=utf-8';

function sendJson(reply: FastifyReply, status: number, body: unknown): FastifyReply {
  return reply.code(status).type(JSON_TYPE).send(JSON.stringify(body));
}

function sendApiError(reply: FastifyReply, status: number, code: number, message: string): FastifyReply {
  return sendJson(reply, status, { error: { code, message } });
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Compares keys in constant time (hashing first, so their lengths leak nothing either). */
export function apiKeyMatches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function hasKeyInUrl(url: string): boolean {
  const q = url.indexOf('?');
  if (q === -1) return false;
  const params = new URLSearchParams(url.slice(q + 1));
  return params.has('api_key') || params.has('apikey');
}

/** The key the request carries in a header, or null. */
function presentedKey(request: FastifyRequest): string | null {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = request.headers.authorization;
  if (auth !== undefined) {
    const match = /^apikey[ ]+(\S+)\s*$/i.exec(auth);
    if (match) return match[1]!;
  }
  return null;
}

/** Why a request may not use the API, or null when its key is right. */
function refusal(request: FastifyRequest, apiKey: string | undefined): string | null {
  if (hasKeyInUrl(request.url)) {
    return 'the API key must not be sent in the URL (URLs end up in logs); send it in the X-API-Key header or as Authorization: apikey <key>, and replace the key if it was exposed';
  }
  if (apiKey === undefined || apiKey === '') return 'the server API is disabled: realtime.apiKey is not set';
  const key = presentedKey(request);
  if (key === null) return 'missing API key: send it in the X-API-Key header or as Authorization: apikey <key>';
  if (!apiKeyMatches(key, apiKey)) return 'invalid API key';
  return null;
}

type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

/** An API body: JSON, or nothing (= `{}`, as for `info`). */
function parseBody(body: unknown): Parsed {
  const text = typeof body === 'string' ? body : '';
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, message: 'bad request: the body is not valid JSON' };
  }
}

function statusOf(reply: ApiReply): number {
  return 'error' in reply && reply.error.code === ERRORS.methodNotFound.code ? 404 : 200;
}

/** Registers /api, /api/batch and /api/:method. Every route authenticates by API key, nothing else. */
export const realtimeApiRoutes: FastifyPluginAsync<RealtimeApiDeps> = async (app, deps) => {
  const { api, apiKey, bodyLimit } = deps;

  // Bodies are read as text whatever their Content-Type: the pipeline form is newline-
  // delimited JSON sent as application/json, which a JSON parser would refuse.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendApiError(reply, 413, ERRORS.badRequest.code, `bad request: the body is larger than ${bodyLimit} bytes`);
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) return sendApiError(reply, status, ERRORS.badRequest.code, `bad request: ${err.message}`);
    request.log.error({ err }, 'server API request failed');
    return sendApiError(reply, 500, ERRORS.internal.code, ERRORS.internal.message);
  });

  // Before the body is read: an unauthenticated caller cannot make us parse a large one.
  app.addHook('onRequest', async (request, reply) => {
    const why = refusal(request, apiKey);
    if (why !== null) return sendApiError(reply, 401, ERRORS.unauthorized.code, why);
    return undefined;
  });

  const routeOptions = { bodyLimit, config: { auth: 'none' as const } };

  app.post('/api', routeOptions, async (request, reply) => {
    const text = typeof request.body === 'string' ? request.body : '';
    const replies = await api.pipeline(text);
    // No trailing newline: cent.js splits the text on "\n" and parses every piece.
    return reply.code(200).type(JSON_TYPE).send(replies.map((r) => JSON.stringify(r)).join('\n'));
  });

  app.post('/api/batch', routeOptions, async (request, reply) => {
    const parsed = parseBody(request.body);
    if (!parsed.ok) return sendApiError(reply, 400, ERRORS.badRequest.code, parsed.message);
    return sendJson(reply, 200, await api.batch(parsed.value));
  });

  app.post<{ Params: { method: string } }>('/api/:method', routeOptions, async (request, reply) => {
    const { method } = request.params;
    if (!ServerApi.isMethod(method)) return sendApiError(reply, 404, ERRORS.methodNotFound.code, ERRORS.methodNotFound.message);
    const parsed = parseBody(request.body);
    if (!parsed.ok) return sendApiError(reply, 400, ERRORS.badRequest.code, parsed.message);
    const result = await api.call(method, parsed.value);
    return sendJson(reply, statusOf(result), result);
  });
};
