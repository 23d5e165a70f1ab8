// The clients that talk to another node (the CLI's NodeClient, the compute WorkbenchClient)
// read its answers one way: an error body becomes the MycelError the node raised, a code this
// build does not know stays visible (INTERNAL with the code), anything that is no Mycel answer
// and no answer at all are NODE_UNREACHABLE with the URL and a reason. Checked against a real
// HTTP server on port 0 that answers each case, and a real node for the workbench's way in.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { NodeClient } from '../../src/cli/node-client.js';
import { WorkbenchClient } from '../../src/compute/workbench-client.js';
import { loadConfig } from '../../src/config/load.js';
import { MycelError } from '../../src/errors.js';
import { startNode } from '../../src/node/assemble.js';

const ANSWERS: Record<string, { status: number; body: string }> = {
  '/known': { status: 409, body: JSON.stringify({ error: { code: 'JOB_NO_CLIENTS', message: 'not yet', details: { datasource: 'd' } } }) },
  '/unknown': { status: 418, body: JSON.stringify({ error: { code: 'SOME_FUTURE_CODE', message: 'from a newer node' } }) },
  '/html': { status: 502, body: '<html>bad gateway</html>' },
  '/ok-html': { status: 200, body: '<html>a web page</html>' },
  '/ok': { status: 200, body: JSON.stringify({ fine: true }) },
  '/empty': { status: 204, body: '' },
};

function rejectsWith(code: string, check?: (err: MycelError) => void) {
  return (err: unknown) => {
    assert.ok(err instanceof MycelError, String(err));
    assert.equal(err.code, code, err.message);
    check?.(err);
    return true;
  };
}

describe('clients of another node read its answers one way', () => {
  let server: Server;
  let url: string;
  let closedUrl: string;

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/slow') return; // never answers
      const answer = ANSWERS[req.url ?? ''] ?? { status: 404, body: '' };
      res.writeHead(answer.status, answer.body.startsWith('{') ? { 'content-type': 'application/json' } : { 'content-type': 'text/html' });
      res.end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('NodeClient: known code, unknown code, no Mycel answer, 204, closed port', async () => {
    const client = new NodeClient(url);
    await assert.rejects(client.get('/known'), rejectsWith('JOB_NO_CLIENTS', (e) => {
      assert.equal(e.message, 'not yet');
      assert.equal(e.status, 409);
      assert.deepEqual(e.details, { datasource: 'd' });
    }));
    await assert.rejects(client.get('/unknown'), rejectsWith('INTERNAL', (e) => {
      assert.equal(e.details?.['code'], 'SOME_FUTURE_CODE');
      assert.equal(e.details?.['status'], 418);
    }));
    await assert.rejects(client.get('/html'), rejectsWith('NODE_UNREACHABLE', (e) => assert.match(String(e.details?.['reason']), /GET \/html answered 502 without a Mycel error/)));
    await assert.rejects(client.get('/ok-html'), rejectsWith('NODE_UNREACHABLE', (e) => assert.match(String(e.details?.['reason']), /answered 200 without JSON/)));
    assert.deepEqual(await client.get('/ok'), { fine: true });
    assert.equal(await client.request('DELETE', '/empty'), undefined);
    await assert.rejects(new NodeClient(closedUrl).get('/ok'), rejectsWith('NODE_UNREACHABLE', (e) => {
      assert.equal(e.details?.['url'], closedUrl);
      assert.equal(e.details?.['reason'], 'connection refused');
    }));
    await assert.rejects(client.send('GET', '/unknown'), rejectsWith('INTERNAL'), 'streamed requests read errors the same way');
  });

  test('WorkbenchClient: the same reading, the token never in the URL, a bounded wait', async () => {
    const seen: Array<{ url: string; auth: string | undefined }> = [];
    const probe = createServer((req, res) => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization });
      if (req.url?.endsWith('/result')) return; // never answers
      const known = ANSWERS['/unknown']!;
      res.writeHead(known.status, { 'content-type': 'application/json' });
      res.end(known.body);
    });
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/`;
    try {
      const wb = new WorkbenchClient(probeUrl, 'secret-project-token', { timeoutMs: 300 });
      await assert.rejects(wb.status('j1'), rejectsWith('INTERNAL', (e) => assert.equal(e.details?.['code'], 'SOME_FUTURE_CODE')));
      await assert.rejects(wb.result('j1'), rejectsWith('NODE_UNREACHABLE', (e) => assert.equal(e.details?.['reason'], 'no answer within 0.3 s')));
      assert.deepEqual(seen.map((s) => s.url), ['/api/v1/compute/jobs/j1', '/api/v1/compute/jobs/j1/result'], 'one slash between base and path');
      assert.ok(seen.every((s) => s.auth === 'Bearer secret-project-token' && !s.url.includes('secret')));
      await assert.rejects(new WorkbenchClient(closedUrl, 't').datasources(), rejectsWith('NODE_UNREACHABLE', (e) => assert.equal(e.details?.['reason'], 'connection refused')));
    } finally {
      probe.closeAllConnections();
      await new Promise((r) => probe.close(r));
    }
  });

  test('WorkbenchClient against a real node: a bad plan, a wrong token, no serving client and an unknown job, each refused with its code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mycel-workbench-'));
    const token = 'workbench-test-token-0123456789abcdef';
    const base = loadConfig({ env: {}, flags: { port: 0, host: '127.0.0.1', dataDir: join(dir, 'node'), logLevel: 'error' } });
    const node = await startNode({ ...base, owner: { password: 'workbench-owner-pw' }, compute: { ...base.compute, mode: 'node', projects: [{ name: 'p', token }] } }, pino({ level: 'silent' }));
    try {
      const wb = new WorkbenchClient(node.url, token);
      await assert.rejects(wb.submit({ version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'no_such_op' }] }), rejectsWith('OPERATION_UNKNOWN'));
      await assert.rejects(new WorkbenchClient(node.url, 'wrong-token-0123456789').datasources(), rejectsWith('PROJECT_TOKEN_INVALID'));
      await assert.rejects(wb.submit({ version: 1, datasource: 'd', kind: 'statistics', operations: [{ op: 'count' }] }), rejectsWith('JOB_NO_CLIENTS', (e) => assert.deepEqual(e.details, { project: 'p', datasource: 'd' })));
      assert.deepEqual(await wb.datasources(), { project: 'p', datasources: [] });
      await assert.rejects(wb.status('6f1c1a52-3c1e-4a53-9a4e-0d0c2b7f6a11'), rejectsWith('JOB_NOT_FOUND'));
    } finally {
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
