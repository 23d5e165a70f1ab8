// CORS for browser apps on other origins: a real `mycel serve` with server.corsOrigins, asked the
// way a browser asks (preflight without credentials, then the request with a bearer token).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startMycel, type ServingNode } from '../helpers/process.js';

const APP = 'https://app.example.com';
const API_KEY = 'cors-test-key-0123456789abcdef0123456789abcdef';

describe('CORS on the REST API and the server API', () => {
  let node: ServingNode;
  let dir: string;
  let token: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mycel-cors-'));
    node = await startMycel({
      MYCEL_DB_DIR: dir,
      MYCEL_OWNER_PASSWORD: 'owner-password-for-cors',
      MYCEL_API_KEY: API_KEY,
      MYCEL_CORS_ORIGINS: `${APP}, http://localhost:3000`,
    });
    const login = await fetch(`${node.url}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'owner-password-for-cors' }),
    });
    assert.equal(login.status, 201);
    token = ((await login.json()) as { token: string }).token;
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a preflight from an allowed origin is answered before authentication', async () => {
    const res = await fetch(`${node.url}/api/v1/channels`, {
      method: 'OPTIONS',
      headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(res.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.equal(res.headers.get('access-control-allow-credentials'), null, 'no credentials mode');
  });

  test('a request from an allowed origin gets its origin back and may read x-request-id', async () => {
    const res = await fetch(`${node.url}/api/v1/channels`, { headers: { origin: APP, authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.match(res.headers.get('access-control-expose-headers') ?? '', /x-request-id/);
    assert.match(res.headers.get('vary') ?? '', /Origin/i);
    // Errors too: a browser app must be able to read why it was refused.
    const denied = await fetch(`${node.url}/api/v1/channels`, { headers: { origin: APP } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('access-control-allow-origin'), APP);
  });

  test('another origin gets no CORS header', async () => {
    const res = await fetch(`${node.url}/api/v1/channels`, { headers: { origin: 'https://evil.example', authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  test('the server API answers preflights and requests from an allowed origin', async () => {
    const pre = await fetch(`${node.url}/api/info`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key, content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://localhost:3000');
    const res = await fetch(`${node.url}/api/info`, {
      method: 'POST',
      headers: { origin: 'http://localhost:3000', 'x-api-key': API_KEY, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  });

  test('unknown paths still answer 404 (the preflight catch-all does not make every path known)', async () => {
    const res = await fetch(`${node.url}/no/such/path`, { headers: { origin: APP } });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ROUTE_NOT_FOUND');
  });

  test('GET /api/v1 describes the API even with the realtime server API mounted at /api/<method>', async () => {
    const res = await fetch(`${node.url}/api/v1`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { apiVersion: string }).apiVersion, 'v1');
  });

  test('paths outside the APIs are left alone', async () => {
    const res = await fetch(`${node.url}/healthz`, { headers: { origin: APP } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });
});

describe('without server.corsOrigins', () => {
  test('no CORS headers, and a preflight is not answered as allowed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mycel-cors-'));
    const node = await startMycel({ MYCEL_DB_DIR: dir });
    try {
      const res = await fetch(`${node.url}/api/v1/node`, { headers: { origin: APP } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      const pre = await fetch(`${node.url}/api/v1/channels`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } });
      assert.equal(pre.headers.get('access-control-allow-origin'), null);
    } finally {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
