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
 * body in the same shape. So are the answers the router gives before any of this (a URL with
 * bad percent-encoding: 400/107; a method name over 100 characters: 404/104), a body in a
 * charset other than UTF-8 (415/107), a JSON object with a repeated key (400/107), and more
 * than realtime.apiKeyFailuresPerMinute wrong keys from one address in a minute (429/111).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS } from '../../realtime/protocol/codes.js';
import { ServerApi, type ApiReply } from '../../realtime/server-api.js';
import { handleFrameworkErrors } from '../errors.js';
import { charsetRefusal, duplicateKeyRefusal } from '../json-body.js';

export interface RealtimeApiDeps {
  api: ServerApi;
  /** realtime.apiKey; without one the API answers 401 to everyone. */
  apiKey: string | undefined;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  /** Requests with a missing or wrong key allowed per client address per minute (default 20). */
  keyFailuresPerMinute?: number | undefined;
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
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return { ok: false, message: 'bad request: the body is not valid JSON' };
  }
  const duplicate = duplicateKeyRefusal(text);
  return duplicate === null ? { ok: true, value } : { ok: false, message: `bad request: ${duplicate.message}` };
}

/** The server API's paths: /api and below, but not the REST API under /api/v1. */
export function isServerApiUrl(url: string): boolean {
  return /^\/api(?:[/?]|$)/.test(url) && !/^\/api\/v1(?:[/?]|$)/.test(url);
}

function statusOf(reply: ApiReply): number {
  return 'error' in reply && reply.error.code === ERRORS.methodNotFound.code ? 404 : 200;
}

/** Registers /api, /api/batch and /api/:method. Every route authenticates by API key, nothing else. */
export const realtimeApiRoutes: FastifyPluginAsync<RealtimeApiDeps> = async (app, deps) => {
  const { api, apiKey, bodyLimit } = deps;

  // The router refuses a bad URL before any hook: answer it in this API's shape too. Nothing
  // is revealed to a caller without a key: the method names are public (docs/protocol.md).
  // So do paths under /api that no route serves (GET /api/publish, POST /api/a/b).
  handleFrameworkErrors(app, isServerApiUrl, (err, _request, reply) => {
    switch (err.code) {
      case 'FST_ERR_BAD_URL':
        return sendApiError(reply, 400, ERRORS.badRequest.code, 'bad request: the URL is not valid percent-encoding');
      case 'METHOD_NOT_ALLOWED':
        return sendApiError(reply, 405, ERRORS.badRequest.code, 'bad request: the server API takes POST only');
      default:
        return sendApiError(reply, 404, ERRORS.methodNotFound.code, ERRORS.methodNotFound.message);
    }
  });

  // Bodies are read as text whatever their Content-Type: the pipeline form is newline-
  // delimited JSON sent as application/json, which a JSON parser would refuse.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    const charset = charsetRefusal(request);
    if (charset !== null) done(Object.assign(new Error(charset), { statusCode: 415 }), undefined);
    else done(null, body);
  });

  // Wrong keys are counted per client address with the same limiter as logins; right keys
  // never are, so a flood of bad guesses cannot lock out the servers that hold the key.
  if (!app.hasDecorator('createRateLimit')) await app.register(fastifyRateLimit, { global: false });
  const countKeyFailure = app.createRateLimit({ max: deps.keyFailuresPerMinute ?? 20, timeWindow: 60_000 });

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
    if (why === null) return undefined;
    const limit = await countKeyFailure(request);
    if (!limit.isAllowed && limit.isExceeded) {
      reply.header('retry-after', String(limit.ttlInSeconds));
      return sendApiError(reply, 429, ERRORS.tooManyRequests.code, `too many requests with a wrong API key from this address; retry in ${limit.ttlInSeconds} s`);
    }
    return sendApiError(reply, 401, ERRORS.unauthorized.code, why);
  });

  const routeOptions = { bodyLimit, config: { auth: 'none' as const } };

  app.post('/api', routeOptions, async (request, reply) => {
    const text = typeof request.body === 'string' ? request.body : '';
    const duplicate = duplicateKeyRefusal(text);
    if (duplicate !== null) return sendApiError(reply, 400, ERRORS.badRequest.code, `bad request: ${duplicate.message}`);
    const replies = await api.pipeline(text);
    // No trailing newline: cent.js splits the text on "\n" and parses every piece.
    return reply.code(200).type(JSON_TYPE).send(replies.map((r) => JSON.stringify(r)).join('\n'));
  });

  app.post('/api/batch', routeOptions, async (request, reply) => {
    const parsed = parseBody(request.body);
    if (!parsed.ok) return sendApiError(reply, 400, ERRORS.badRequest.code, parsed.message);
    return sendJson(reply, 200, await api.batch(parsed.value));
  });

  // Method names are lower case and `_`: /api/v1 (the REST index) is left to the REST API.
  app.post<{ Params: { method: string } }>('/api/:method(^[a-z_]+$)', routeOptions, async (request, reply) => {
    const { method } = request.params;
    if (!ServerApi.isMethod(method)) return sendApiError(reply, 404, ERRORS.methodNotFound.code, ERRORS.methodNotFound.message);
    const parsed = parseBody(request.body);
    if (!parsed.ok) return sendApiError(reply, 400, ERRORS.badRequest.code, parsed.message);
    const result = await api.call(method, parsed.value);
    return sendJson(reply, statusOf(result), result);
  });
};
