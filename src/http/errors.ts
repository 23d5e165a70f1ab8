import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isMycelError, MycelError, type ErrorCode } from '../errors.js';

/** The JSON every error reply carries. */
export type ErrorBody = ReturnType<MycelError['toBody']>;

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Fastify's own client errors, by code, mapped onto the registry. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_BAD_URL: 'VALIDATION_FAILED',
  FST_ERR_MAX_PARAM_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_NOT_FOUND: 'ROUTE_NOT_FOUND',
};

/** Longest path parameter the router accepts (fastify's `maxParamLength`); ids are 36. */
export const MAX_PARAM_CHARS = 100;

const FIXED_REASONS: Record<string, string> = {
  FST_ERR_BAD_URL: 'the URL is not valid percent-encoding',
  FST_ERR_MAX_PARAM_LENGTH: `a path parameter is longer than ${MAX_PARAM_CHARS} characters`,
};

/** Any other 4xx fastify or a plugin raises: keep it a client error, with the nearest code. */
const STATUS_CODES: Record<number, ErrorCode> = {
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'ROUTE_NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
};

/**
 * The paths of a schema error inside its location ('' when the location as a whole is wrong).
 * zod reports unknown keys on the parent object; each key is named as a field of its own.
 */
function innerPaths(issue: ValidationIssue): string[] {
  const path = (issue.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.');
  const keys = issue.params?.keys;
  if (Array.isArray(keys) && keys.length > 0) return keys.map((k) => (path ? `${path}.${String(k)}` : String(k)));
  return [path];
}

/** A JSON type with its article: `a string`, `an array`, `a JSON object`. */
function typeName(type: string): string {
  if (type === 'object') return 'a JSON object';
  if (type === 'NaN') return 'a number';
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}

/** zod's wording, made plain where it is cryptic (a missing field reads "received undefined"). */
function plainMessage(message: string | undefined): string {
  if (message === undefined) return 'is not valid';
  if (/expected \w+, received undefined$/.test(message)) return 'is required';
  const wrongType = /^Invalid input: expected (\w+), received (\w+)$/.exec(message);
  if (wrongType) return `must be ${typeName(wrongType[1]!)}, not ${typeName(wrongType[2]!)}`;
  return message;
}

/**
 * A schema error names its place unambiguously: `body` is the request body as a whole,
 * `body.body` the field `body` inside it, `querystring.limit` a query parameter.
 * `details.path` is that full path; `details.field` the part inside the location ('' for the whole).
 */
function validationError(err: FastifyError): MycelError {
  const location = err.validationContext ?? 'request';
  const issues = (err.validation ?? []).flatMap((issue: ValidationIssue) =>
    innerPaths(issue).map((field) => ({ field, path: field ? `${location}.${field}` : location, message: plainMessage(issue.message) })),
  );
  const first = issues[0];
  const message = first ? `${first.path}: ${first.message}` : undefined;
  return new MycelError('VALIDATION_FAILED', { location, field: first?.field ?? '', path: first?.path ?? location, issues }, message);
}

/**
 * Server-side conditions that are expected, not failures to log per request, and whose details
 * help the client: shutting down; a JWKS outage (logged once by the token verifier); a
 * forwarded write whose origin node is unreachable, busy or slow (the network reports links).
 */
const EXPECTED_5XX: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['SHUTTING_DOWN', 'TOKEN_KEYS_UNAVAILABLE', 'NOT_CONNECTED_TO_ORIGIN', 'FORWARD_QUEUE_FULL', 'FORWARD_TIMEOUT']);

/**
 * Turns anything thrown while serving a request into a registry error. Only what is not a
 * client's mistake becomes INTERNAL; `internal` tells the caller to log it.
 */
export function toMycelError(err: unknown): { error: MycelError; internal: boolean } {
  // Shutting down is expected, not a failure to log on every probe; a JWKS outage is logged once by the token verifier.
  if (isMycelError(err)) return { error: err, internal: err.status >= 500 && !EXPECTED_5XX.has(err.code) };
  const fe = err as Partial<FastifyError> | null;
  if (fe && typeof fe === 'object') {
    if (Array.isArray(fe.validation)) return { error: validationError(fe as FastifyError), internal: false };
    const byCode = typeof fe.code === 'string' ? FASTIFY_CODES[fe.code] : undefined;
    // Fastify's message for these quotes the whole URL back (up to the 16 KiB header limit).
    const fixed = typeof fe.code === 'string' ? FIXED_REASONS[fe.code] : undefined;
    if (byCode) return { error: new MycelError(byCode, { reason: fixed ?? fe.message }), internal: false };
    const status = typeof fe.statusCode === 'number' ? fe.statusCode : 0;
    if (status >= 400 && status < 500) {
      return { error: new MycelError(STATUS_CODES[status] ?? 'VALIDATION_FAILED', { reason: fe.message }), internal: false };
    }
  }
  return { error: new MycelError('INTERNAL'), internal: true };
}

/** Sends a registry error as `{ error: { code, message, details } }`, bypassing route response schemas. */
export function sendError(reply: FastifyReply, error: MycelError): FastifyReply {
  return reply
    .code(error.status)
    .type('application/json; charset=utf-8')
    .serializer((payload: unknown) => JSON.stringify(payload))
    .send(error.toBody());
}

/** The app's one error handler: client mistakes keep their code; anything else is a logged 500 without internals. */
export function errorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { error, internal } = toMycelError(err);
  if (internal) {
    request.log.error({ err, reqId: request.id, code: error.code }, 'request failed');
    // Server-side details (a driver's message, a host and port) stay in the log; the client gets the code and the request id.
    return sendError(reply, new MycelError(error.code, { requestId: request.id }));
  }
  return sendError(reply, error);
}

/**
 * Answers, in some path's own error shape, what no route of that path got to answer: a bad URL
 * (a FastifyError, FST_ERR_BAD_URL or FST_ERR_MAX_PARAM_LENGTH) or no route for the method
 * and path (a MycelError, ROUTE_NOT_FOUND or METHOD_NOT_ALLOWED).
 */
export type FrameworkErrorHandler = (err: FastifyError | MycelError, request: FastifyRequest, reply: FastifyReply) => FastifyReply;

// By the node:http server, which the root instance and every plugin scope share.
const frameworkErrorScopes = new WeakMap<object, Array<{ matches: (url: string) => boolean; handler: FrameworkErrorHandler }>>();

/**
 * Bad URLs are refused by the router before any route or hook, so a plugin cannot catch them
 * with its own error handler: it registers here instead (the server API does, to answer in
 * its numeric-code shape).
 */
export function handleFrameworkErrors(app: FastifyInstance, matches: (url: string) => boolean, handler: FrameworkErrorHandler): void {
  const scopes = frameworkErrorScopes.get(app.server) ?? [];
  scopes.push({ matches, handler });
  frameworkErrorScopes.set(app.server, scopes);
}

/** The handler registered for `url`, if any. */
export function frameworkErrorHandlerFor(app: FastifyInstance, url: string): FrameworkErrorHandler | undefined {
  return frameworkErrorScopes.get(app.server)?.find((scope) => scope.matches(url))?.handler;
}
