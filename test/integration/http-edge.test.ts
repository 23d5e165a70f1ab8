// The HTTP edge over real sockets: what Node's parser refuses, requests that arrive too slowly,
// connections one address holds while still sending, the server API's own shape for bad URLs
// and wrong keys, charsets and repeated JSON keys. Every refusal carries the registry's body
// (or the server API's) and an x-request-id, and the server keeps serving other clients.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { storageBackends } from '../helpers/storage.js';
import { bearer, startHarness } from './http-harness.js';
import { API_KEY, assertRegistryError, rawRequest, RawHttp, startEdge, type Edge } from './http-edge-harness.js';
import { StreamReader } from './realtime-http-harness.js';
import { sign } from './realtime-harness.js';

const KEY = { 'x-api-key': API_KEY };

/** The server still answers a well-behaved client. */
async function stillServes(edge: Edge, where: string): Promise<void> {
  const res = await fetch(`${edge.base}/healthz`);
  assert.equal(res.status, 200, `${where}: /healthz`);
}

/** The server API's error shape: `{"error":{"code":<number>,"message"}}`. */
async function assertApiError(res: Response, status: number, code: number, where: string): Promise<void> {
  const text = await res.text();
  assert.equal(res.status, status, `${where}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, where);
  assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, `${where}: x-request-id`);
  const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
  assert.equal(body.error?.code, code, `${where}: ${text}`);
  assert.equal(typeof body.error?.message, 'string', where);
}

describe('requests the HTTP parser refuses', () => {
  let edge: Edge;
  before(async () => {
    edge = await startEdge();
  });
  after(() => edge.close());

  const rows: Array<{ name: string; raw: string; status: number; code: string; reason?: string }> = [
    { name: 'unknown method', raw: 'FOO / HTTP/1.1\r\nHost: x\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST', reason: 'HPE_INVALID_METHOD' },
    { name: 'URL over the header limit', raw: `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 431, code: 'HEADERS_TOO_LARGE' },
    { name: 'header over the limit', raw: `GET / HTTP/1.1\r\nHost: x\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431, code: 'HEADERS_TOO_LARGE' },
    { name: 'control character in a header', raw: 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST' },
    { name: 'Content-Length with Transfer-Encoding', raw: 'POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST' },
    { name: 'negative Content-Length', raw: 'POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST', reason: 'HPE_INVALID_CONTENT_LENGTH' },
    { name: 'raw non-ASCII in the path', raw: 'GET /api/v1/caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST' },
    { name: 'binary garbage', raw: '\x00\x01\x02\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST' },
    { name: 'WebSocket upgrade without a key', raw: 'GET /connection/websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST' },
    { name: 'upgrade to something else', raw: 'GET /connection/uni_websocket HTTP/1.1\r\nHost: x\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST' },
    { name: 'upgrade on a path nobody serves', raw: 'GET /nothing HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', status: 404, code: 'ROUTE_NOT_FOUND' },
    { name: 'bad percent-encoding (router)', raw: 'GET /api/v1/channels/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n', status: 400, code: 'VALIDATION_FAILED' },
    { name: 'over-long path parameter (router)', raw: `GET /api/v1/channels/${'a'.repeat(500)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 400, code: 'VALIDATION_FAILED' },
  ];

  test('each gets the registry body with an x-request-id; the server keeps serving', async () => {
    for (const row of rows) {
      const res = await rawRequest(edge.port, Buffer.from(row.raw, 'latin1'));
      assertRegistryError(res, row.status, row.code, row.name);
      if (row.reason) assert.equal((JSON.parse(res.body) as { error: { details: { reason: string } } }).error.details.reason, row.reason, row.name);
      // Nothing of the request is echoed back (the URL can be 16 KiB).
      assert.ok(res.body.length < 300, `${row.name}: body of ${res.body.length} characters`);
    }
    await stillServes(edge, 'after the table');
  });

  test('requests Node would answer with an empty body: a missing Host, an unknown Expect', async () => {
    const noHost = await rawRequest(edge.port, 'GET /healthz HTTP/1.1\r\n\r\n');
    assertRegistryError(noHost, 400, 'MALFORMED_REQUEST', 'HTTP/1.1 without Host');
    // HTTP/1.0 has no Host requirement.
    assert.equal((await rawRequest(edge.port, 'GET /healthz HTTP/1.0\r\n\r\n')).status, 200);
    // An expectation the server does not know is ignored, not answered 417.
    const expect = await rawRequest(edge.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n');
    assert.equal(expect.status, 200, JSON.stringify(expect));
  });

  test('streams carry the x-request-id too', async () => {
    const token = await sign({ sub: 'rid' });
    const connect = encodeURIComponent(JSON.stringify({ id: 1, connect: { token } }));
    const sse = await StreamReader.open(`${edge.base}/connection/sse?cf_connect=${connect}`, { sse: true, headers: { accept: 'text/event-stream' } });
    try {
      assert.equal(sse.status, 200);
      assert.match(sse.headers?.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    } finally {
      await sse.close();
    }
  });

  test('a parse error closes the connection', async () => {
    const client = await RawHttp.open(edge.port);
    try {
      client.write('FOO / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.equal((await client.response()).headers.connection, 'close');
      await client.waitClosed();
    } finally {
      client.close();
    }
  });

  test('a bad URL answers the same before authentication whether the route exists or not, and echoes nothing', async () => {
    for (const path of ['/api/v1/channels/%ZZ', '/no/such/route/%ZZ', '/api/v1/posts/%E0%A4%A']) {
      const res = await fetch(`${edge.base}${path}`);
      const body = (await res.json()) as { error: { code: string; details: { reason: string } } };
      assert.equal(res.status, 400, path);
      assert.equal(body.error.code, 'VALIDATION_FAILED', path);
      assert.equal(body.error.details.reason, 'the URL is not valid percent-encoding', path);
      assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, path);
    }
  });
});

describe('request timeouts', () => {
  let edge: Edge;
  before(async () => {
    edge = await startEdge({ server: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
  });
  after(() => edge.close());

  /** Opens a connection, sends `head` and part of a body, then nothing more; returns when the server answered. */
  async function stalled(head: string): Promise<{ res: Awaited<ReturnType<RawHttp['response']>>; ms: number }> {
    const client = await RawHttp.open(edge.port);
    try {
      const started = Date.now();
      client.write(head);
      const res = await client.response(5000);
      await client.waitClosed();
      return { res, ms: Date.now() - started };
    } finally {
      client.close();
    }
  }

  test("the settings reach Node's server; headersTimeoutMs is capped at requestTimeoutMs", async () => {
    assert.equal(edge.harness.app.server.requestTimeout, 600);
    assert.equal(edge.harness.app.server.headersTimeout, 300);
    const capped = await startHarness(storageBackends[0]!, { config: { server: { headersTimeoutMs: 5000, requestTimeoutMs: 2000 } } });
    try {
      assert.equal(capped.app.server.headersTimeout, 2000);
    } finally {
      await capped.close();
    }
    const defaults = await startHarness(storageBackends[0]!);
    try {
      assert.equal(defaults.app.server.requestTimeout, 30_000);
      assert.equal(defaults.app.server.headersTimeout, 10_000);
    } finally {
      await defaults.close();
    }
  });

  test('headers that never end: 408 REQUEST_TIMEOUT after headersTimeoutMs', async () => {
    const { res, ms } = await stalled('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    assertRegistryError(res, 408, 'REQUEST_TIMEOUT', 'slow headers');
    assert.ok(ms >= 250 && ms < 3000, `cut after ${ms} ms`);
  });

  const bodies: Array<{ name: string; head: (token: string) => string }> = [
    { name: 'POST /emulation (no authentication)', head: () => 'POST /emulation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"session":' },
    { name: 'POST /connection/http_stream (no authentication)', head: () => 'POST /connection/http_stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":1,' },
    { name: 'authenticated REST POST', head: (token) => `POST /api/v1/channels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name":` },
    { name: 'server API POST with its key', head: () => `POST /api/publish HTTP/1.1\r\nHost: x\r\nX-API-Key: ${API_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"channel":` },
    { name: 'chunked body that never ends', head: (token) => `POST /api/v1/channels HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{"\r\n` },
  ];

  test('a body that stops half-way: 408 REQUEST_TIMEOUT after requestTimeoutMs, connection closed', async () => {
    const token = await edge.harness.login();
    for (const row of bodies) {
      const { res, ms } = await stalled(row.head(token));
      assertRegistryError(res, 408, 'REQUEST_TIMEOUT', row.name);
      assert.ok(ms >= 500 && ms < 4000, `${row.name}: cut after ${ms} ms`);
    }
    await stillServes(edge, 'after the slow bodies');
  });

  test('SSE and HTTP-streaming connections outlive the request timeout while a slow body is cut', async () => {
    const token = await sign({ sub: 'edge-user', channels: ['edge'] });
    const connect = JSON.stringify({ id: 1, connect: { token } });
    const sse = await StreamReader.open(`${edge.base}/connection/sse?cf_connect=${encodeURIComponent(connect)}`, { sse: true, headers: { accept: 'text/event-stream' } });
    const stream = await StreamReader.open(`${edge.base}/connection/http_stream`, { method: 'POST', body: connect, headers: { 'content-type': 'application/json' } });
    try {
      for (const r of [sse, stream]) {
        assert.equal(r.status, 200);
        await r.waitFor((m) => 'connect' in m, 5000, 'connect reply');
      }
      // Longer than requestTimeoutMs (600 ms) passes while the streams are open: a slow body
      // started now is cut only after it, twice over.
      for (let i = 0; i < 2; i++) {
        const { res } = await stalled('POST /emulation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{');
        assertRegistryError(res, 408, 'REQUEST_TIMEOUT', 'slow body next to the streams');
      }
      assert.equal(sse.ended, false, 'the SSE stream is still open');
      assert.equal(stream.ended, false, 'the HTTP stream is still open');
      const published = await fetch(`${edge.base}/api/publish`, { method: 'POST', headers: { ...KEY, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'edge', data: { n: 1 } }) });
      assert.equal(published.status, 200, await published.text());
      for (const r of [sse, stream]) {
        await r.waitFor((m) => JSON.stringify(m).includes('"n":1'), 5000, 'the publication');
      }
    } finally {
      await sse.close();
      await stream.close();
    }
  });
});

describe('connections one address holds while still sending', () => {
  let edge: Edge;
  before(async () => {
    edge = await startEdge({ server: { maxPendingConnectionsPerAddress: 3, headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 } });
  });
  after(() => edge.close());

  test('one more than the limit gets 429 TOO_MANY_CONNECTIONS; finishing one frees a place', async () => {
    const slow = await Promise.all([RawHttp.open(edge.port), RawHttp.open(edge.port), RawHttp.open(edge.port)]);
    try {
      slow[0]!.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
      slow[1]!.write('POST /emulation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
      // The third sends nothing at all.
      const extra = await RawHttp.open(edge.port);
      try {
        assertRegistryError(await extra.response(), 429, 'TOO_MANY_CONNECTIONS', 'fourth connection');
        await extra.waitClosed();
      } finally {
        extra.close();
      }
      // The first finishes its request: it is answered and no longer counts.
      slow[0]!.write('\r\n');
      assert.equal((await slow[0]!.response()).status, 200);
      await stillServes(edge, 'after one pending connection finished');
    } finally {
      for (const s of slow) s.close();
    }
  });

  test('streaming and idle keep-alive connections do not count', async () => {
    const token = await sign({ sub: 'nat-user' });
    const connect = encodeURIComponent(JSON.stringify({ id: 1, connect: { token } }));
    const streams = await Promise.all(
      [0, 1, 2, 3, 4].map(() => StreamReader.open(`${edge.base}/connection/sse?cf_connect=${connect}`, { sse: true, headers: { accept: 'text/event-stream' } })),
    );
    try {
      for (const r of streams) await r.waitFor((m) => 'connect' in m, 5000, 'connect reply');
      for (let i = 0; i < 5; i++) await stillServes(edge, `request ${i} next to five SSE streams`);
    } finally {
      for (const r of streams) await r.close();
    }
  });
});

describe('the server API at the edge', () => {
  let edge: Edge;
  before(async () => {
    edge = await startEdge({ realtime: { apiKeyFailuresPerMinute: 3 } });
  });
  after(() => edge.close());

  test('a bad URL answers in the server API shape with a numeric code', async () => {
    await assertApiError(await fetch(`${edge.base}/api/%ZZ`, { method: 'POST', headers: KEY }), 400, 107, '/api/%ZZ');
    await assertApiError(await fetch(`${edge.base}/api/${'m'.repeat(10_000)}`, { method: 'POST', headers: KEY }), 404, 104, '10,000-character method');
    await assertApiError(await fetch(`${edge.base}/api/%ZZ`, { method: 'POST' }), 400, 107, '/api/%ZZ without a key');
    // Paths under /api that no route serves, and bodies refused there, answer in the same shape.
    await assertApiError(await fetch(`${edge.base}/api/publish`, { headers: KEY }), 405, 107, 'GET /api/publish');
    await assertApiError(await fetch(`${edge.base}/api/a/b`, { method: 'POST', headers: KEY }), 404, 104, 'POST /api/a/b');
    await assertApiError(await fetch(`${edge.base}/api/a/b`, { method: 'OPTIONS', headers: { 'content-type': 'text/x-nothing' }, body: 'x' }), 404, 104, 'OPTIONS /api/a/b with a body');
    // The REST API under /api/v1 keeps the registry shape.
    const rest = await fetch(`${edge.base}/api/v1/channels/%ZZ`);
    assert.equal(((await rest.json()) as { error: { code: string } }).error.code, 'VALIDATION_FAILED');
    // POST /api/v1 is the REST index under a method it lacks, not a server API method named "v1".
    for (const headers of [{}, KEY]) {
      const index = await fetch(`${edge.base}/api/v1`, { method: 'POST', headers });
      assert.equal(index.status, 405);
      assert.equal(index.headers.get('allow'), 'GET, HEAD');
      assert.equal(((await index.json()) as { error: { code: string } }).error.code, 'METHOD_NOT_ALLOWED');
    }
  });

  test('wrong keys from one address: 401 up to the limit, then 429 (code 111, Retry-After); the right key still works', async () => {
    for (let i = 0; i < 3; i++) await assertApiError(await fetch(`${edge.base}/api/info`, { method: 'POST', headers: { 'x-api-key': `wrong-${i}` } }), 401, 101, `wrong key ${i}`);
    const limited = await fetch(`${edge.base}/api/info`, { method: 'POST', headers: { 'x-api-key': 'wrong-again' } });
    assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
    await assertApiError(limited, 429, 111, 'fourth wrong key');
    await assertApiError(await fetch(`${edge.base}/api/info`, { method: 'POST' }), 429, 111, 'no key while limited');
    const right = await fetch(`${edge.base}/api/info`, { method: 'POST', headers: KEY });
    assert.equal(right.status, 200, await right.text());
  });
});

describe('request bodies: charset and repeated keys', () => {
  let edge: Edge;
  let token: string;
  before(async () => {
    edge = await startEdge();
    token = await edge.harness.login();
  });
  after(() => edge.close());

  const post = (path: string, contentType: string, body: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${edge.base}${path}`, { method: 'POST', headers: { 'content-type': contentType, ...headers }, body });

  test('REST: a charset other than UTF-8 is 415 UNSUPPORTED_MEDIA_TYPE; utf-8 in any spelling is read', async () => {
    for (const charset of ['utf-16', 'UTF-16LE', 'iso-8859-1', '"latin1"']) {
      const res = await post('/api/v1/channels', `application/json; charset=${charset}`, '{"name":"cs:x"}', bearer(token));
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, 415, charset);
      assert.equal(body.error.code, 'UNSUPPORTED_MEDIA_TYPE', charset);
    }
    let n = 0;
    for (const charset of ['utf-8', 'UTF-8', 'utf8', '"utf-8"']) {
      const res = await post('/api/v1/channels', `application/json; charset=${charset}`, JSON.stringify({ name: `cs:ok${n++}` }), bearer(token));
      assert.equal(res.status, 201, `${charset}: ${await res.text()}`);
    }
  });

  test('server API and realtime endpoints refuse a charset other than UTF-8 too', async () => {
    await assertApiError(await post('/api/info', 'application/json; charset=utf-16', '{}', KEY), 415, 107, 'server API');
    const stream = await post('/connection/http_stream', 'application/json; charset=utf-16', '{"id":1,"connect":{}}');
    assert.equal(stream.status, 415);
    assert.equal(((await stream.json()) as { error: { code: string } }).error.code, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('a repeated JSON key is 400 BAD_JSON naming the key, and nothing is written', async () => {
    const res = await post('/api/v1/channels', 'application/json', '{"name":"dup:a","name":"dup:b"}', bearer(token));
    const body = (await res.json()) as { error: { code: string; details: { key: string } } };
    assert.equal(res.status, 400);
    assert.equal(body.error.code, 'BAD_JSON');
    assert.equal(body.error.details.key, 'name');
    const list = (await (await fetch(`${edge.base}/api/v1/channels`, { headers: bearer(token) })).json()) as { items: Array<{ name: string }> };
    assert.deepEqual(list.items.filter((c) => c.name.startsWith('dup:')), []);
    // The same key in different objects is fine.
    const channel = await post('/api/v1/channels', 'application/json', '{"name":"dup:ok"}', bearer(token));
    assert.equal(channel.status, 201);
    const { id } = (await channel.json()) as { id: string };
    const nested = await post(`/api/v1/channels/${id}/posts`, 'application/json', '{"body":"x","meta":{"a":{"a":1},"b":{"a":2}}}', bearer(token));
    assert.equal(nested.status, 201, await nested.text());
  });

  test('server API: a repeated key in a method body, a batch or a pipeline is 400 with code 107', async () => {
    await assertApiError(await post('/api/publish', 'application/json', '{"channel":"a","channel":"b","data":{}}', KEY), 400, 107, 'publish');
    await assertApiError(await post('/api/batch', 'application/json', '{"commands":[{"publish":{"channel":"a","data":{"x":1,"x":2}}}]}', KEY), 400, 107, 'batch');
    await assertApiError(await post('/api', 'application/json', '{"method":"info","params":{}}\n{"method":"info","method":"publish"}', KEY), 400, 107, 'pipeline');
  });
});
