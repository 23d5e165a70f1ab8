// Federated compute across the node network, with real processes: node A runs the aggregation
// (its jobs, its clients; `compute.join.first`); node B, also in compute mode node, joins A's
// network from its configuration (`compute.join.url` + an invitation of A's owner: registered
// at A as a read-only child, it pulls A) and holds a replica of A's jobs; restarted without the
// invitation it connects again from its stored entry. A client that joined A talks to B only: B relays its poll, lease renewal, result and
// failure to A (forwarded writes over the link, the client's signature checked at A too) and
// answers once A's change is imported. The job completes at A with the client's real result;
// a read-only registration is enough (the client's signature is the authority, not B's);
// refusals keep their codes through B (LEASE_NOT_HELD from A, SIGNATURE_INVALID at B); with A
// stopped, B answers NOT_CONNECTED_TO_ORIGIN and a poll finds nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DatasourceSpec } from '../../src/compute/datasource.js';
import { TaskRunner } from '../../src/compute/run-task.js';
import { bindingProof } from '../../src/lib/binding-proof.js';
import { createComputeKeyPair, signatureHeaders, signRequest, type ComputeKeyPair } from '../../src/lib/signed-request.js';
import { makeRows, writeSplit } from '../helpers/compute.js';
import { startMycel, type ServingNode } from '../helpers/process.js';

const PASSWORD = 'compute-replica-owner-pw';
const TOKEN = 'compute-replica-project-token-0123456789abcdef';
const STATS = { version: 1, datasource: 'trial', kind: 'statistics', operations: [{ op: 'count' }, { op: 'mean', columns: ['age'] }] };

type Json = Record<string, unknown>;

interface Answer {
  status: number;
  json: Json;
}

async function http(url: string, path: string, init: { body?: unknown; token?: string; headers?: Record<string, string>; raw?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.token) headers['authorization'] = `Bearer ${init.token}`;
  let body = init.raw;
  if (init.body !== undefined) body = JSON.stringify(init.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, { method: body === undefined ? 'GET' : 'POST', headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  return { status: res.status, json: (text === '' ? {} : JSON.parse(text)) as Json };
}

/** Waits (up to 20 s) for a log line of `node` containing `text`. */
async function waitLine(node: ServingNode, text: string): Promise<true> {
  for (const deadline = Date.now() + 20_000; ; ) {
    if (node.lines.some((l) => l.includes(text))) return true;
    if (Date.now() > deadline) assert.fail(`no log line with ${text}:\n${node.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const code = (a: Answer) => [a.status, (a.json['error'] as Json | undefined)?.['code']];

describe('compute across the node network: a client of A served by its replica B', { timeout: 180_000 }, () => {
  let dir: string;
  let a: ServingNode;
  let b: ServingNode;
  let keys: ComputeKeyPair;
  let clientId: string;
  let part: DatasourceSpec;
  let nodeInvitation: string;
  const runner = new TaskRunner();

  /** POSTs `body` to B as the client, signed over its exact bytes. */
  const signedAtB = (path: string, body: unknown): Promise<Answer> => {
    const raw = JSON.stringify(body);
    const headers = signatureHeaders(signRequest(keys.privateKey, { method: 'POST', path, body: raw, clientId }, Date.now()));
    return http(b.url, path, { raw, headers });
  };
  const pollAtB = () => signedAtB('/api/v1/compute/poll', {});
  const jobAtA = async (jobId: string) => (await http(a.url, `/api/v1/compute/jobs/${jobId}`, { token: TOKEN })).json;
  const submitAtA = async (plan: unknown) => {
    const res = await http(a.url, '/api/v1/compute/jobs', { body: plan, token: TOKEN });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    return (res.json['job'] as Json)['id'] as string;
  };
  /** Polls B until it answers a task (200): B's copy of A's new job arrives by replication. */
  const leaseAtB = async () => {
    for (const deadline = Date.now() + 20_000; ; ) {
      const res = await pollAtB();
      if (res.status === 200) return res.json as { task: { id: string; jobId: string; input: unknown; round: number }; leaseId: string; leaseExpiresAt: number; project: string };
      assert.equal(res.status, 204, JSON.stringify(res.json));
      if (Date.now() > deadline) assert.fail('B never leased a task of the new job');
    }
  };

  const nodeConfig = (name: string, joinLines: string[]): string => {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(
      path,
      ['node:', `  name: ${name}`, `  dataDir: ${JSON.stringify(join(dir, name))}`, 'owner:', `  password: ${PASSWORD}`, 'compute:', '  mode: node', '  heartbeatSeconds: 1', '  projects:', `    - { name: study, token: ${TOKEN} }`, '  join:', ...joinLines, ''].join('\n'),
    );
    return path;
  };
  let ownerA: string;
  const invite = async (kind: 'client' | 'node' = 'client') => (await http(a.url, '/api/v1/compute/invitations', { token: ownerA, body: { ttlSeconds: 600, kind } })).json['secret'] as string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mycel-compute-replica-'));
    part = writeSplit(dir, makeRows(90, 3)).parts[0]!;
    a = await startMycel({}, ['--config', nodeConfig('a', ['    first: true'])]);
    ownerA = ((await http(a.url, '/api/v1/session', { body: { password: PASSWORD } })).json['token']) as string;
    nodeInvitation = await invite('node');
    assert.match(nodeInvitation, /^mcn_/);
    b = await startMycel({}, ['--config', nodeConfig('b', [`    url: ${a.url}`, `    invitation: ${nodeInvitation}`])]);
    // The client joins A (its invitation is A's).
    keys = createComputeKeyPair();
    const invitation = await invite();
    const joined = await http(a.url, '/api/v1/compute/join', {
      body: { invitation, name: 'site-1', publicKey: keys.publicKey, datasources: [{ name: 'trial', type: 'csv', proofs: [bindingProof(TOKEN, keys.publicKey, 'trial')] }] },
    });
    assert.equal(joined.status, 201, JSON.stringify(joined.json));
    clientId = joined.json['clientId'] as string;
    // B knows the client once A's registration is replicated: its signature then verifies at B.
    for (const deadline = Date.now() + 20_000; ; ) {
      const res = await pollAtB();
      if (res.status === 204) break;
      assert.deepEqual(code(res), [401, 'SIGNATURE_INVALID'], JSON.stringify(res.json));
      if (Date.now() > deadline) assert.fail('B never learned of the client');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    await runner.close();
    for (const node of [b, a]) await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('B joined from its configuration: registered at A as a read-only child; its invitation is spent; restarted without it, B connects again', async () => {
    const bId = (await http(b.url, '/api/v1/node')).json['id'] as string;
    const nodes = (await http(a.url, '/api/v1/nodes', { token: ownerA })).json['items'] as Array<{ id: string; role: string; writeAccess: string; asOwner: boolean }>;
    const registered = nodes.find((n) => n.id === bId);
    assert.deepEqual(registered && [registered.role, registered.writeAccess, registered.asOwner], ['child', 'read-only', false]);
    const again = await http(a.url, '/api/v1/compute/nodes', { body: { invitation: nodeInvitation, nodeId: randomUUID(), password: 'another-node-password' } });
    assert.deepEqual(code(again), [409, 'INVITATION_USED']);
    // A client's invitation does not admit a node (which would pull all of A), nor a node's a client; neither is spent.
    const clientInvitation = await invite();
    assert.deepEqual(code(await http(a.url, '/api/v1/compute/nodes', { body: { invitation: clientInvitation, nodeId: randomUUID(), password: 'another-node-password' } })), [401, 'INVITATION_INVALID']);
    const unusedNodeInvitation = await invite('node');
    const asClient = await http(a.url, '/api/v1/compute/join', { body: { invitation: unusedNodeInvitation, name: 'x', publicKey: createComputeKeyPair().publicKey, datasources: [] } });
    assert.deepEqual(code(asClient), [401, 'INVITATION_INVALID']);
    const joinedWithIt = await http(a.url, '/api/v1/compute/join', { body: { invitation: clientInvitation, name: 'x', publicKey: createComputeKeyPair().publicKey, datasources: [] } });
    assert.equal(joinedWithIt.status, 201, 'the client invitation was not spent by the refused node join');
    assert.equal((await b.stop()).code, 0);
    b = await startMycel({}, ['--config', nodeConfig('b', [`    url: ${a.url}`])]);
    const jobId = await submitAtA(STATS);
    const leased = await leaseAtB();
    assert.equal(leased.task.jobId, jobId, 'B pulls A again and relays the lease');
    const failed = await signedAtB(`/api/v1/compute/tasks/${leased.task.id}/failure`, { leaseId: leased.leaseId, error: { code: 'TASK_FAILED', message: 'not this one' } });
    assert.equal(failed.status, 200, JSON.stringify(failed.json));
  });

  test('the client polls, renews and reports at B; the job completes at A with its result', async () => {
    const jobId = await submitAtA(STATS);
    for (let rounds = 0; ; rounds++) {
      assert.ok(rounds < 5, 'the job should end within a few rounds');
      const leased = await leaseAtB();
      assert.equal(leased.task.jobId, jobId);
      assert.equal(leased.project, 'study');
      // A holds the lease B answered.
      const held = ((await jobAtA(jobId))['tasks'] as Array<{ id: string; status: string; leaseExpiresAt: number; clientId: string }>).find((t) => t.id === leased.task.id)!;
      assert.deepEqual([held.status, held.leaseExpiresAt, held.clientId], ['leased', leased.leaseExpiresAt, clientId]);
      const renewed = await signedAtB(`/api/v1/compute/tasks/${leased.task.id}/lease`, { leaseId: leased.leaseId });
      assert.equal(renewed.status, 200, JSON.stringify(renewed.json));
      assert.ok((renewed.json['leaseExpiresAt'] as number) >= leased.leaseExpiresAt);
      const output = await runner.run(leased.task.input, part, { timeoutMs: 60_000, threads: 1 });
      const reported = await signedAtB(`/api/v1/compute/tasks/${leased.task.id}/result`, { leaseId: leased.leaseId, output });
      assert.equal(reported.status, 200, JSON.stringify(reported.json));
      assert.deepEqual(reported.json, { status: 'done', roundComplete: true });
      // Reported twice: A refuses it, and B passes A's code on.
      assert.deepEqual(code(await signedAtB(`/api/v1/compute/tasks/${leased.task.id}/result`, { leaseId: leased.leaseId, output })), [409, 'LEASE_NOT_HELD']);
      // A merged the round when the report arrived.
      const job = (await jobAtA(jobId))['job'] as Json;
      if (job['status'] === 'done') break;
      assert.equal(job['status'], 'running');
    }
    const result = (await http(a.url, `/api/v1/compute/jobs/${jobId}/result`, { token: TOKEN })).json['result'] as { results: Array<{ op: string; result: { groups: Array<{ rows: number }> } }> };
    assert.equal(result.results.find((r) => r.op === 'count')!.result.groups[0]!.rows, Math.floor(90 * 0.45));
  });

  test('a failure reported at B fails the job at A, naming the client; a forged signature stops at B', async () => {
    const jobId = await submitAtA(STATS);
    const leased = await leaseAtB();
    const forged = signatureHeaders(signRequest(createComputeKeyPair().privateKey, { method: 'POST', path: '/api/v1/compute/poll', body: '{}', clientId }, Date.now()));
    assert.deepEqual(code(await http(b.url, '/api/v1/compute/poll', { raw: '{}', headers: forged })), [401, 'SIGNATURE_INVALID']);
    const failed = await signedAtB(`/api/v1/compute/tasks/${leased.task.id}/failure`, { leaseId: leased.leaseId, error: { code: 'DATASOURCE_UNREADABLE', message: 'trial: line 3 is ragged' } });
    assert.deepEqual([failed.status, failed.json], [200, { status: 'failed', roundComplete: true }]);
    const status = await jobAtA(jobId);
    assert.equal((status['job'] as Json)['status'], 'failed');
    const failures = ((status['job'] as Json)['error'] as { failures: Array<{ clientId: string; error: { code: string } }> }).failures;
    assert.deepEqual(failures.map((f) => [f.clientId, f.error.code]), [[clientId, 'DATASOURCE_UNREADABLE']]);
  });

  test('a real client process joined at A, restarted with compute.join.url of B, keeps its registration and runs a job of A through B', async () => {
    const ownerA = ((await http(a.url, '/api/v1/session', { body: { password: PASSWORD } })).json['token']) as string;
    const invitation = (await http(a.url, '/api/v1/compute/invitations', { token: ownerA, body: { ttlSeconds: 600 } })).json['secret'] as string;
    const clientConfig = (url: string, withInvitation: boolean): string => {
      const path = join(dir, 'client.yaml');
      writeFileSync(
        path,
        ['node:', '  name: site-2', `  dataDir: ${JSON.stringify(join(dir, 'client'))}`, 'owner:', `  password: ${PASSWORD}`, 'compute:', '  mode: client', '  heartbeatSeconds: 1', '  join:', `    url: ${url}`,
          ...(withInvitation ? [`    invitation: ${invitation}`] : []),
          '  datasources:', `    - { name: cohort, type: csv, path: ${JSON.stringify(part.path)}, tokens: [${TOKEN}] }`, ''].join('\n'),
      );
      return path;
    };
    let client = await startMycel({}, ['--config', clientConfig(a.url, true)]);
    try {
      assert.ok(client.lines.some((l) => l.includes('"compute client joined"')) || (await waitLine(client, '"compute client joined"')));
      await client.stop();
      // No invitation any more: B knows the client once A's registration has reached it.
      client = await startMycel({}, ['--config', clientConfig(b.url, false)]);
      await waitLine(client, 'it polls there now');
      const jobId = await submitAtA({ ...STATS, datasource: 'cohort' });
      for (const deadline = Date.now() + 30_000; ; ) {
        const job = (await jobAtA(jobId))['job'] as Json;
        if (job['status'] === 'done') break;
        assert.ok(['queued', 'running'].includes(job['status'] as string), JSON.stringify(job));
        if (Date.now() > deadline) assert.fail('the job did not complete through B');
        await new Promise((r) => setTimeout(r, 100));
      }
      const result = (await http(a.url, `/api/v1/compute/jobs/${jobId}/result`, { token: TOKEN })).json['result'] as { results: Array<{ op: string; result: { groups: Array<{ rows: number }> } }> };
      assert.equal(result.results.find((r) => r.op === 'count')!.result.groups[0]!.rows, Math.floor(90 * 0.45));
    } finally {
      await client.stop();
    }
  });

  test('with A stopped, B answers NOT_CONNECTED_TO_ORIGIN for a report and its polls find nothing', async () => {
    await submitAtA(STATS);
    const leased = await leaseAtB();
    assert.equal((await a.stop()).code, 0);
    assert.deepEqual(code(await signedAtB(`/api/v1/compute/tasks/${leased.task.id}/lease`, { leaseId: leased.leaseId })), [503, 'NOT_CONNECTED_TO_ORIGIN']);
    assert.equal((await pollAtB()).status, 204);
  });
});
