// The public, non-content endpoints: node profile, OpenAPI document, health, readiness, metrics,
// and shutdown behaviour. SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { storageBackends } from '../helpers/storage.js';
import { bearer, runScenario, startHarness, type Harness } from './http-harness.js';

const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Every route of the API as `METHOD path` in OpenAPI form; the document must have exactly these. */
const ROUTES = [
  'GET /',
  'GET /api/v1',
  'GET /api/v1/node',
  'POST /api/v1/session',
  'GET /api/v1/session',
  'DELETE /api/v1/session',
  'POST /api/v1/nodes/session',
  'GET /api/v1/nodes/link/events',
  'POST /api/v1/nodes/link/{linkId}/messages',
  'GET /api/v1/nodes',
  'POST /api/v1/nodes',
  'GET /api/v1/nodes/{nodeId}',
  'PATCH /api/v1/nodes/{nodeId}',
  'DELETE /api/v1/nodes/{nodeId}',
  'GET /api/v1/network/status',
  'GET /api/v1/network/servers',
  'POST /api/v1/network/servers',
  'DELETE /api/v1/network/servers/{id}',
  'GET /api/v1/channels',
  'POST /api/v1/channels',
  'GET /api/v1/channels/{channelId}',
  'PATCH /api/v1/channels/{channelId}',
  'DELETE /api/v1/channels/{channelId}',
  'GET /api/v1/channels/{channelId}/posts',
  'POST /api/v1/channels/{channelId}/posts',
  'GET /api/v1/posts/{postId}',
  'PATCH /api/v1/posts/{postId}',
  'DELETE /api/v1/posts/{postId}',
  'GET /api/v1/posts/{postId}/links',
  'POST /api/v1/links',
  'GET /api/v1/links/{linkId}',
  'DELETE /api/v1/links/{linkId}',
  'PUT /api/v1/blobs',
  'GET /api/v1/blobs/{uri}',
  'GET /api/v1/blobs/{algo}/{hex}',
  'GET /api/v1/changes',
  'GET /api/v1/changes/stream',
  'GET /api/v1/digest',
  'POST /api/v1/compute/invitations',
  'POST /api/v1/compute/join',
  'POST /api/v1/compute/nodes',
  'GET /api/v1/compute/client',
  'POST /api/v1/compute/poll',
  'POST /api/v1/compute/tasks/{taskId}/lease',
  'POST /api/v1/compute/tasks/{taskId}/result',
  'POST /api/v1/compute/tasks/{taskId}/failure',
  'POST /api/v1/compute/jobs',
  'GET /api/v1/compute/jobs/{jobId}',
  'GET /api/v1/compute/jobs/{jobId}/result',
  'GET /api/v1/compute/datasources',
  'GET /api/v1/openapi.json',
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
];
/** Compute clients sign each request (Ed25519, docs/compute-queue.md): no session or bearer scheme applies. */
const SIGNED_ROUTES = new Set(['POST /api/v1/compute/join', 'POST /api/v1/compute/nodes', 'GET /api/v1/compute/client', 'POST /api/v1/compute/poll', 'POST /api/v1/compute/tasks/{taskId}/lease', 'POST /api/v1/compute/tasks/{taskId}/result', 'POST /api/v1/compute/tasks/{taskId}/failure']);
/** Workbenches send their project token as a bearer token, never a cookie. */
const PROJECT_TOKEN_ROUTES = new Set(['POST /api/v1/compute/jobs', 'GET /api/v1/compute/jobs/{jobId}', 'GET /api/v1/compute/jobs/{jobId}/result', 'GET /api/v1/compute/datasources']);
const PUBLIC_ROUTES = new Set(['GET /', 'GET /api/v1', 'GET /api/v1/node', 'POST /api/v1/session', 'POST /api/v1/nodes/session', 'GET /api/v1/openapi.json', 'GET /healthz', 'GET /readyz', 'GET /metrics']);

interface Operation {
  operationId?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ in: string; name: string; schema: { format?: string } }>;
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}
interface OpenApiDoc {
  openapi: string;
  info: { version: string };
  servers: Array<{ url: string }>;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

for (const backend of storageBackends) {
  describe(`HTTP platform endpoints on ${backend.name}`, () => {
    let h: Harness;
    before(async () => {
      h = await startHarness(backend);
    });
    after(() => h.close());

    test('GET /api/v1/node is public and describes the node', async () => {
      const res = await h.app.inject({ url: '/api/v1/node' });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), {
        id: h.core.node.id,
        name: 'http-test',
        version: packageVersion,
        createdAt: h.core.node.createdAt,
        schemaVersion: await h.core.storage.schemaVersion(),
      });
      assert.ok(typeof res.headers['x-request-id'] === 'string' && res.headers['x-request-id'].length > 0);
    });

    test('the OpenAPI document lists every route with schemas, errors and security', async () => {
      const res = await h.app.inject({ url: '/api/v1/openapi.json' });
      assert.equal(res.statusCode, 200);
      const doc = res.json() as OpenApiDoc;
      assert.equal(doc.openapi, '3.1.0');
      assert.equal(doc.info.version, packageVersion);
      assert.deepEqual(doc.servers, [{ url: 'http://127.0.0.1:5103' }]);
      for (const name of ['Channel', 'Post', 'Link', 'Change', 'Error', 'Actor']) assert.ok(doc.components.schemas[name], `component ${name}`);
      assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['bearerAuth', 'cookieAuth']);

      const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
      assert.deepEqual(documented.sort(), [...ROUTES].sort());
      const operationIds = new Set<string>();
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          const key = `${method.toUpperCase()} ${path}`;
          assert.ok(op.operationId && !operationIds.has(op.operationId), `${key}: a unique operationId`);
          operationIds.add(op.operationId);
          const ok = Object.keys(op.responses).filter((s) => s.startsWith('2'));
          // Blobs: an upload is 201 new / 200 already stored; a read is 200 whole / 206 a range.
          if (key.includes('/api/v1/blobs')) assert.equal(ok.length, 2, `${key}: two success responses`);
          // A long poll: 200 with a task, 204 when none came within the heartbeat.
          else if (key === 'POST /api/v1/compute/poll') assert.deepEqual(ok.sort(), ['200', '204'], `${key}: a task or none`);
          else assert.equal(ok.length, 1, `${key}: one success response`);
          if (PUBLIC_ROUTES.has(key)) {
            assert.deepEqual(op.security, [], `${key} is public`);
          } else if (SIGNED_ROUTES.has(key) || PROJECT_TOKEN_ROUTES.has(key)) {
            assert.deepEqual(op.security, SIGNED_ROUTES.has(key) ? [] : [{ bearerAuth: [] }], `${key}: its own credential`);
            for (const status of ['400', '401', '404', '500']) {
              assert.deepEqual(op.responses[status]?.content?.['application/json']?.schema, { $ref: '#/components/schemas/Error' }, `${key}: ${status} documented`);
            }
          } else {
            assert.deepEqual(op.security, [{ bearerAuth: [] }, { cookieAuth: [] }], `${key} needs a credential`);
            for (const status of ['400', '401', '403', '500']) {
              assert.deepEqual(op.responses[status]?.content?.['application/json']?.schema, { $ref: '#/components/schemas/Error' }, `${key}: ${status} documented`);
            }
          }
          for (const param of op.parameters?.filter((p) => p.in === 'path') ?? []) {
            // Server entries of the configuration are `config-N` (docs/network.md); every other id is a UUID.
            if (key === 'DELETE /api/v1/network/servers/{id}') continue;
            // Blobs are named by their hash.
            if (key.includes('/api/v1/blobs/')) continue;
            assert.equal(param.schema.format, 'uuid', `${key}: path parameter ${param.name} is a UUID`);
          }
          if (method === 'post' || method === 'patch' || method === 'put') {
            const hasBody = op.requestBody !== undefined;
            assert.ok(hasBody, `${key}: request body documented`);
          }
        }
      }
      // A spot check that the input schemas made it through: creating a channel needs a name.
      const createChannel = doc.paths['/api/v1/channels']!.post!;
      const schema = (createChannel.requestBody!.content['application/json'] as { schema: { required: string[]; additionalProperties: boolean } }).schema;
      assert.deepEqual(schema.required, ['name']);
      assert.equal(schema.additionalProperties, false);
    });

    test('/healthz and /readyz answer without auth', async () => {
      await runScenario(h.app, { name: 'healthz', url: '/healthz', expectStatus: 200, check: (res) => assert.deepEqual(res.json(), { status: 'ok' }) }, null);
      await runScenario(h.app, { name: 'readyz', url: '/readyz', expectStatus: 200, check: (res) => assert.deepEqual(res.json(), { status: 'ready' }) }, null);
    });

    test('/metrics is public Prometheus text with default and per-route HTTP metrics', async () => {
      const token = await h.login();
      await h.app.inject({ url: '/api/v1/channels', headers: bearer(token) });
      await h.app.inject({ url: '/api/v1/no-such-thing' });
      const res = await h.app.inject({ url: '/metrics' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      assert.match(res.body, /^process_cpu_user_seconds_total /m);
      assert.match(res.body, /^mycel_http_requests_total\{method="GET",route="\/api\/v1\/channels",status="200"\} 1$/m);
      assert.match(res.body, /^mycel_http_requests_total\{method="POST",route="\/api\/v1\/session",status="201"\} \d+$/m);
      assert.match(res.body, /^mycel_http_requests_total\{method="GET",route="\(unmatched\)",status="404"\} 1$/m);
      assert.match(res.body, /^mycel_http_request_duration_seconds_bucket\{le="0\.005",method="GET",route="\/api\/v1\/channels",status="200"\} \d+$/m);
      assert.doesNotMatch(res.body, /no-such-thing/, 'raw URLs never become labels');
    });

    test('readiness fails with NOT_READY when the database does not answer; liveness stays up', async () => {
      const other = await startHarness(backend);
      try {
        const token = await other.login();
        await other.handle.storage.close();
        const internalsHidden = (res: { body: string; headers: Record<string, unknown> }) => {
          assert.deepEqual((JSON.parse(res.body) as { error: { details: unknown } }).error.details, { requestId: res.headers['x-request-id'] });
        };
        await runScenario(other.app, { name: 'readyz, storage closed', url: '/readyz', expectStatus: 503, expectCode: 'NOT_READY', check: internalsHidden }, null);
        // A request that needs the database gets the registry code, without the driver's words.
        await runScenario(other.app, { name: 'API, storage closed', url: '/api/v1/node', headers: bearer(token), expectStatus: 503, expectCode: 'STORAGE_UNAVAILABLE', check: internalsHidden }, null);
        await runScenario(other.app, { name: 'healthz, storage closed', url: '/healthz', expectStatus: 200 }, null);
      } finally {
        await other.close();
      }
    });

    test('readiness reports SHUTTING_DOWN once main says so, while the API keeps serving', async () => {
      let draining = false;
      const other = await startHarness(backend, { isShuttingDown: () => draining });
      try {
        const token = await other.login();
        await runScenario(other.app, { name: 'readyz before', url: '/readyz', expectStatus: 200 }, null);
        draining = true;
        await runScenario(other.app, { name: 'readyz draining', url: '/readyz', expectStatus: 503, expectCode: 'SHUTTING_DOWN' }, null);
        await runScenario(other.app, { name: 'API still serves while draining', url: '/api/v1/channels', headers: bearer(token), expectStatus: 200 }, null);
        await runScenario(other.app, { name: 'healthz while draining', url: '/healthz', expectStatus: 200 }, null);
      } finally {
        await other.close();
      }
    });
  });
}
