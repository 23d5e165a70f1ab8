// Property tests of the HTTP edge (fast-check): random and adversarial query strings for every
// GET route of the OpenAPI document, random paths, methods and headers, and raw malformed
// HTTP/1.1 over a real socket. Whatever comes in: never a 5xx; every error reply has the
// documented shape and an x-request-id; the server stays up for other clients. Each property
// is bounded to a few hundred cases and a few seconds.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { isServerApiUrl } from '../../src/http/routes/realtime-api.js';
import { assertNoInternals, bearer } from './http-harness.js';
import { API_KEY, RawHttp, startEdge, type Edge, type RawResponse } from './http-edge-harness.js';

/** Percent-encodes every byte of the UTF-8 form of `value` but the unreserved ones (lone surrogates become U+FFFD). */
function encode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const ADVERSARIAL = [
  '', ' ', '-1', '0', '1.5', '1e309', '-0', 'NaN', 'Infinity', '9'.repeat(400), '0x10', 'true', 'null', '[]', '{}', '[object Object]',
  '__proto__', 'constructor', 'prototype', '../../etc/passwd', "' OR 1=1 --", '<script>', '\u0000', '\uFFFF', '\u202E', 'a'.repeat(5000),
  '0190d7a8-0000-7000-8000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'eyJ0IjoxfQ', 'e30', '%', '%ZZ', '%E0%A4%A', '+',
];

/** A value for a parameter: adversarial constants, numbers, random text of any code point. */
const paramValue = fc.oneof(
  fc.constantFrom(...ADVERSARIAL),
  fc.integer().map(String),
  fc.double().map(String),
  fc.uuid(),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ maxLength: 30 }),
);

/** As sent: percent-encoded, or (rarely) raw ASCII with its `%`, `&`, `=` and `+` left in. */
const sentValue = fc.oneof(
  { weight: 4, arbitrary: paramValue.map(encode) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'%&=+;#?/abc019'.split('')), maxLength: 12 }) },
);

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; details?: unknown };
}

/** Never a 5xx; an error has the documented shape and an x-request-id (string codes, numeric under the server API). */
function checkInjected(res: LightMyRequestResponse, url: string, where: string): void {
  assert.ok(res.statusCode < 500, `${where}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  assert.match(String(res.headers['x-request-id'] ?? ''), /^[0-9a-f-]{36}$/, `${where}: x-request-id`);
  if (res.statusCode < 400) return;
  assertNoInternals(res.body, where);
  if (res.body === '') return; // HEAD
  assert.match(String(res.headers['content-type']), /^application\/json/, `${where}: ${res.body.slice(0, 200)}`);
  const body = res.json() as ErrorBody;
  assert.equal(typeof body.error?.message, 'string', `${where}: ${res.body.slice(0, 200)}`);
  assert.equal(typeof body.error?.code, isServerApiUrl(url) ? 'number' : 'string', `${where}: ${res.body.slice(0, 200)}`);
}

interface OpenApiParameter {
  name: string;
  in: string;
}
interface GetRoute {
  path: string;
  parameters: OpenApiParameter[];
}

describe('HTTP edge properties', () => {
  let edge: Edge;
  let token: string;
  let routes: GetRoute[];

  before(async () => {
    // Short timeouts so that a raw request left incomplete is answered quickly.
    edge = await startEdge({ server: { headersTimeoutMs: 200, requestTimeoutMs: 300 } });
    token = await edge.harness.login();
    const doc = (await edge.harness.app.inject({ url: '/api/v1/openapi.json' })).json() as {
      paths: Record<string, Record<string, { parameters?: OpenApiParameter[] }>>;
    };
    routes = Object.entries(doc.paths)
      // Streams that stay open (SSE: realtime, the change feed, node links) are the raw-socket property's business.
      .filter(([path, ops]) => ops.get !== undefined && !/^\/connection\/|^\/api\/v1\/changes\/stream$|^\/api\/v1\/nodes\/link\/events$/.test(path))
      .map(([path, ops]) => ({ path, parameters: ops.get!.parameters ?? [] }));
  });
  after(() => edge.close());

  test('the OpenAPI document lists the GET routes with their parameters', () => {
    assert.ok(routes.length >= 8, `only ${routes.length} GET routes`);
    assert.ok(routes.some((r) => r.parameters.some((p) => p.in === 'query')), 'some route has query parameters');
    assert.ok(routes.some((r) => r.parameters.some((p) => p.in === 'path')), 'some route has path parameters');
  });

  test('every GET route, random and adversarial values for each declared parameter: no 5xx, documented errors', async () => {
    const request = fc.record({
      route: fc.integer({ min: 0, max: 1000 }),
      values: fc.array(sentValue, { minLength: 8, maxLength: 8 }),
      omit: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      repeat: fc.boolean(),
      extra: fc.option(fc.tuple(sentValue, sentValue)),
      auth: fc.constantFrom('owner', 'none', 'garbage'),
    });
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const route = routes[r.route % routes.length]!;
        let path = route.path;
        const query: string[] = [];
        route.parameters.forEach((p, i) => {
          const value = r.values[i % r.values.length]!;
          if (p.in === 'path') path = path.replace(`{${p.name}}`, value === '' ? 'x' : value);
          else if (p.in === 'query' && !r.omit[i % r.omit.length]) {
            query.push(`${p.name}=${value}`);
            if (r.repeat) query.push(`${p.name}=${value}`);
          }
        });
        if (r.extra) query.push(`${r.extra[0]}=${r.extra[1]}`);
        const url = query.length > 0 ? `${path}?${query.join('&')}` : path;
        const headers = r.auth === 'owner' ? bearer(token) : r.auth === 'garbage' ? { authorization: 'Bearer \u00ff\u00fe' } : {};
        const res = await edge.harness.app.inject({ method: 'GET', url, headers });
        cases++;
        checkInjected(res, url, `GET ${url.slice(0, 200)}`);
      }),
      { numRuns: Number(process.env.MYCEL_FC_RUNS ?? 300), interruptAfterTimeLimit: Number(process.env.MYCEL_FC_MS ?? 20_000) },
    );
    assert.ok(cases >= 100, `only ${cases} cases ran`);
  });

  test('random paths, methods and headers: no 5xx, documented errors', async () => {
    const segment = fc.oneof(
      fc.constantFrom('api', 'v1', 'channels', 'posts', 'links', 'changes', 'session', 'node', 'openapi.json', 'healthz', 'readyz', 'metrics', 'emulation', 'publish', 'info', 'batch', '..', '.', '%2e%2e', '%00', '%ZZ', '', 'connection', 'websocket'),
      fc.uuid(),
      paramValue.map(encode),
    );
    const headerName = fc.oneof(
      fc.constantFrom('authorization', 'cookie', 'content-type', 'x-api-key', 'origin', 'referer', 'accept', 'x-request-id', 'x-forwarded-for', 'accept-encoding', 'if-none-match', 'range'),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
    );
    const headerValue = fc.oneof(
      fc.constantFrom('Bearer x', 'Bearer', `apikey ${API_KEY}`, 'apikey wrong', 'mycel_session=abc', 'application/json', 'application/json; charset=utf-16', 'text/plain', 'multipart/form-data; boundary=x', 'null', '*/*', 'bytes=0-0'),
      fc.stringMatching(/^[\x20-\x7e\t]{0,80}$/),
    );
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
      segments: fc.array(segment, { minLength: 0, maxLength: 6 }),
      query: fc.option(sentValue),
      headers: fc.dictionary(headerName, headerValue, { maxKeys: 6 }),
      body: fc.option(fc.oneof(fc.json(), fc.string({ maxLength: 200 }), fc.constant('{"a":1,"a":2}'))),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const path = `/${r.segments.join('/')}`;
        // Streams that stay open (SSE, HTTP-streaming) are the raw-socket property's business.
        fc.pre(!/^\/connection\//.test(path));
        const url = r.query === null ? path : `${path}?${r.query}`;
        const withBody = r.body !== null && r.method !== 'GET' && r.method !== 'HEAD';
        const res = await edge.harness.app.inject({ method: r.method as 'GET', url, headers: r.headers, ...(withBody ? { payload: r.body! } : {}) });
        // The server sees the URL with its dot segments resolved (as light-my-request sends it).
        const seen = new URL(`http://x${url}`).pathname;
        checkInjected(res, seen, `${r.method} ${url.slice(0, 200)} ${JSON.stringify(r.headers).slice(0, 200)}`);
      }),
      { numRuns: Number(process.env.MYCEL_FC_RUNS ?? 300), interruptAfterTimeLimit: Number(process.env.MYCEL_FC_MS ?? 20_000) },
    );
  });

  test('raw malformed HTTP/1.1 over a socket: no 5xx, documented errors, other clients still served', async () => {
    const tchars = fc.stringMatching(/^[A-Za-z!#$%&'*+.^_`|~0-9-]{1,12}$/);
    const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a).toString('latin1'));
    const target = fc.oneof(
      fc.constantFrom('/', '/healthz', '/connection/websocket', '/connection/uni_websocket', '/api/v1/channels', '/api/v1/session', '/api/info', '/api/%ZZ', '/emulation', '/connection/http_stream', '/connection/sse?cf_connect=%7B%7D', '/connection/websocket', '/nope', '*', 'http://evil.example/x', '//x', '/a b', `/${'x'.repeat(17_000)}`),
      bytes(40).map((b) => `/${b}`),
      paramValue.map((v) => `/api/v1/channels/${encode(v)}`),
    );
    const header = fc.oneof(
      fc.constantFrom(
        'Content-Length: 5', 'Content-Length: -1', 'Content-Length: 99999999999999999999', 'Content-Length: 1, 2', 'Content-Length: abc', 'Content-Length: 0',
        'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip', 'Transfer-Encoding: chunked, chunked', 'Content-Type: application/json', 'Content-Type: application/json; charset=utf-16',
        'Connection: close', 'Connection: keep-alive', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13',
        'Upgrade: websocket\r\nConnection: Upgrade', 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Expect: 100-continue', 'Expect: something-else', `X-API-Key: ${API_KEY}`, 'Authorization: Bearer x', 'Host: x', 'Host:', ' folded: header',
      ),
      fc.tuple(tchars, bytes(30)).map(([n, v]) => `${n}: ${v}`),
      bytes(40),
    );
    const request = fc.record({
      method: fc.oneof(fc.constantFrom('GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE', 'PRI', 'G\x00T', ''), tchars),
      target,
      version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', 'http/1.1', 'HTTP/1.1 x', ''),
      eol: fc.constantFrom('\r\n', '\r\n', '\r\n', '\n', '\r'),
      host: fc.boolean(),
      headers: fc.array(header, { maxLength: 6 }),
      body: fc.oneof(fc.constant(''), bytes(60), fc.constantFrom('0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\n', '{"a":1,"a":2}')),
      halfClose: fc.boolean(),
    });
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const lines = [`${r.method} ${r.target} ${r.version}`, ...(r.host ? ['Host: x'] : []), ...r.headers];
        const raw = `${lines.join(r.eol)}${r.eol}${r.eol}${r.body}`;
        const client = await RawHttp.open(edge.port);
        let res: RawResponse | undefined;
        try {
          client.write(Buffer.from(raw, 'latin1'));
          if (r.halfClose) client.socket.end();
          // An incomplete request is answered 408 after requestTimeoutMs (300 ms); a complete one at once.
          res = (await client.answer(3000)) ?? undefined;
        } finally {
          client.close();
        }
        const where = `${JSON.stringify(raw.slice(0, 300))}`;
        if (res !== undefined) {
          answered++;
          assert.ok(res.status < 500, `${where}: ${res.status} ${res.body.slice(0, 200)}`);
          if (res.status !== 101) assert.match(res.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/, `${where}: x-request-id in ${JSON.stringify(res)}`);
          if (res.status >= 400 && res.body !== '') {
            const body = JSON.parse(res.body) as ErrorBody;
            assert.ok(['string', 'number'].includes(typeof body.error?.code), `${where}: ${res.body.slice(0, 200)}`);
            assert.equal(typeof body.error?.message, 'string', where);
          }
        }
        // Another client is served meanwhile.
        const other = await fetch(`${edge.base}/healthz`);
        assert.equal(other.status, 200, `${where}: /healthz after it`);
      }),
      { numRuns: Number(process.env.MYCEL_FC_RUNS ?? 150), interruptAfterTimeLimit: Number(process.env.MYCEL_FC_MS ?? 30_000) },
    );
    assert.ok(answered >= 30, `only ${answered} requests were answered`);
    const list = await fetch(`${edge.base}/api/v1/channels`, { headers: bearer(token) });
    assert.equal(list.status, 200);
  });
});
