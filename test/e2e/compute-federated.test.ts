// Federated compute end to end with real processes (docs/compute.md): one aggregation node
// (`mycel serve`, compute.mode node) and three clients (`mycel serve`, compute.mode client), each
// with its own CSV split of one generated data set. A statistics job and a FedAvg job over REST
// give what the coordinator gives over the same splits (and the pooled file's mean within 1e-9);
// a client process SIGKILLed mid-task (inside a long FedAvg): its lease expires, the restarted
// client (no invitation needed any more) runs the task again and the job completes with the
// right result, the task leased twice; a killed idle client whose key holds a lease never
// answered: the same, and the dead process's open poll takes no new task; a ragged CSV is a
// task error naming the client, the job fails, nothing crashes; and the refusals, each with its
// code: no invitation, a reused invitation, a forged signature, a wrong project token, an
// unknown operation, a result download the node forbids.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLIENT_STATE_FILE, type ClientState } from '../../src/compute/compute-client.js';
import { parsePlan } from '../../src/compute/plan.js';
import { TaskRunner } from '../../src/compute/run-task.js';
import { createComputeKeyPair, signatureHeaders, signRequest } from '../../src/lib/signed-request.js';
import { close, makeRows, pooledQuery, runJob, spec, toCsv, writeSplit } from '../helpers/compute.js';
import { runMycel, startMycel, type ServingNode } from '../helpers/process.js';

const PASSWORD = 'compute-e2e-owner-pw';
const TOKEN = 'compute-e2e-project-token-0123456789abcdef';
// Short, so the tests watch leases expire; long enough that a task re-run by a freshly started
// client (a new worker thread, loaded through tsx) finishes within its lease on a loaded machine.
const LEASE_SECONDS = 8;
const API_KEY = 'compute-e2e-api-key-0123456789abcdef';
const STATS = { version: 1, datasource: 'trial', kind: 'statistics', operations: [{ op: 'count', groupBy: ['site'] }, { op: 'mean', columns: ['age', 'x1'] }, { op: 'variance', columns: ['ylin'] }, { op: 'quantiles', columns: ['age'], probabilities: [0.5] }] };
const FEDAVG = { version: 1, datasource: 'trial', kind: 'fedavg', model: 'linear', features: ['x1', 'x2'], target: 'ylin', rounds: 4, localEpochs: 3, learningRate: 0.1 };

type Json = Record<string, unknown>;

/** Equal but numbers, which agree within 1e-9 (relative): the merge order differs from the in-process run's. */
function assertClose(actual: unknown, expected: unknown, path = 'result'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    assert.ok(close(actual, expected), `${path}: ${actual} vs ${expected}`);
    return;
  }
  if (expected !== null && typeof expected === 'object' && actual !== null && typeof actual === 'object') {
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${path}: keys`);
    for (const key of Object.keys(expected)) assertClose((actual as Json)[key], (expected as Json)[key], `${path}.${key}`);
    return;
  }
  assert.deepEqual(actual, expected, path);
}

describe('federated compute: a node and three client processes', { timeout: 180_000 }, () => {
  let dir: string;
  let node: ServingNode;
  const clients: ServingNode[] = [];
  let ownerToken: string;
  let parts: ReturnType<typeof writeSplit>['parts'];
  let pooledPath: string;
  const runner = new TaskRunner();

  const api = async (path: string, init: { method?: string; body?: unknown; token?: string; headers?: Record<string, string>; raw?: string } = {}) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (init.token) headers['authorization'] = `Bearer ${init.token}`;
    let body: string | undefined = init.raw;
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.body);
    }
    const res = await fetch(`${node.url}${path}`, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    return { status: res.status, json: (text === '' ? null : JSON.parse(text)) as Json };
  };
  const invite = async (): Promise<string> => {
    const res = await api('/api/v1/compute/invitations', { body: { ttlSeconds: 600 }, token: ownerToken });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    return res.json['secret'] as string;
  };
  const clientConfig = (i: number, invitation: string | null, extra: string[] = []): string => {
    const path = join(dir, `client${i}.yaml`);
    writeFileSync(
      path,
      [
        'node:',
        `  name: client${i}`,
        `  dataDir: ${JSON.stringify(join(dir, `client${i}`))}`,
        'owner:',
        `  password: ${PASSWORD}`,
        'compute:',
        '  mode: client',
        '  heartbeatSeconds: 1',
        '  join:',
        `    url: ${node.url}`,
        ...(invitation ? [`    invitation: ${invitation}`] : []),
        '  datasources:',
        `    - { name: trial, type: csv, path: ${JSON.stringify(parts[i]!.path)}, tokens: [${TOKEN}] }`,
        ...extra,
        '',
      ].join('\n'),
    );
    return path;
  };
  /** Client 1 also holds a ragged file; client 2 alone holds `slow`, a file a long task reads. */
  const extraDatasources = (i: number): string[] => {
    if (i === 1) return [`    - { name: broken, type: csv, path: ${JSON.stringify(join(dir, 'broken.csv'))}, tokens: [${TOKEN}] }`];
    if (i === 2) return [`    - { name: slow, type: csv, path: ${JSON.stringify(join(dir, 'slow.csv'))}, tokens: [${TOKEN}] }`];
    return [];
  };
  const startClient = async (i: number, invitation: string | null) => startMycel({}, ['--config', clientConfig(i, invitation, extraDatasources(i))]);
  const waitJob = async (jobId: string, timeoutMs = 30_000): Promise<Json> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await api(`/api/v1/compute/jobs/${jobId}`, { token: TOKEN });
      assert.equal(res.status, 200, JSON.stringify(res.json));
      const job = res.json['job'] as Json;
      if (['done', 'failed', 'partial'].includes(job['status'] as string)) return res.json;
      if (Date.now() > deadline) assert.fail(`job ${jobId} did not finish: ${JSON.stringify(res.json)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const waitFor = async <T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = probe();
      if (found !== undefined) return found;
      if (Date.now() > deadline) assert.fail(what);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const submit = async (plan: unknown): Promise<string> => {
    const res = await api('/api/v1/compute/jobs', { body: plan, token: TOKEN });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    return (res.json['job'] as Json)['id'] as string;
  };
  const resultOf = async (jobId: string) => {
    const res = await api(`/api/v1/compute/jobs/${jobId}/result`, { token: TOKEN });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    return res.json;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mycel-compute-e2e-'));
    const split = writeSplit(dir, makeRows(240, 11));
    parts = split.parts;
    pooledPath = split.pooled.path;
    writeFileSync(join(dir, 'broken.csv'), 'a,b\n1,2\n3,4,5\n6,7\n');
    // 50 000 rows: a FedAvg of 1000 local epochs in steps of one row over them is tens of seconds of work.
    writeFileSync(join(dir, 'slow.csv'), toCsv(makeRows(50_000, 23)));
    const nodeConfig = join(dir, 'node.yaml');
    writeFileSync(
      nodeConfig,
      ['node:', '  name: aggregator', `  dataDir: ${JSON.stringify(join(dir, 'node'))}`, 'owner:', `  password: ${PASSWORD}`,
        // Live progress goes to compute:jobs once the namespace exists (here: the owner's, with history).
        'realtime:', `  apiKey: ${API_KEY}`, '  namespaces:', '    compute: { subscribe: owner, publish: owner, history: owner, presence: owner, historySize: 10000 }', 'compute:', '  mode: node', '  heartbeatSeconds: 1', '  projects:', `    - { name: study, token: ${TOKEN} }`, ''].join('\n'),
    );
    node = await startMycel({ MYCEL_TEST_COMPUTE_LEASE_SECONDS: String(LEASE_SECONDS) }, ['--config', nodeConfig]);
    const login = await api('/api/v1/session', { body: { password: PASSWORD } });
    ownerToken = login.json['token'] as string;
    const invitations = [await invite(), await invite(), await invite()];
    // Every client that started is kept (and stopped by after()) even when another fails to start.
    const started = await Promise.allSettled([0, 1, 2].map((i) => startClient(i, invitations[i]!)));
    for (const s of started) if (s.status === 'fulfilled') clients.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await node?.stop();
    await runner.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the workbench sees the bound datasources\' schemas, never a row', async () => {
    const res = await api('/api/v1/compute/datasources', { token: TOKEN });
    assert.equal(res.status, 200);
    const list = res.json['datasources'] as Array<{ name: string; rows: number; columns: Array<{ name: string; numeric: boolean }> }>;
    const trial = list.filter((d) => d.name === 'trial');
    assert.equal(trial.length, 3);
    assert.equal(trial.reduce((n, d) => n + d.rows, 0), 240);
    assert.ok(trial[0]!.columns.some((c) => c.name === 'age' && c.numeric));
  });

  test('a statistics job matches the coordinator over the same splits and the pooled file', async () => {
    const jobId = await submit(STATS);
    const status = await waitJob(jobId);
    assert.equal((status['job'] as Json)['status'], 'done', JSON.stringify(status));
    const answer = await resultOf(jobId);
    const { result } = answer;
    const { roundsRun: _, ...expected } = await runJob(runner, parsePlan(STATS), parts, { k: 10 });
    assertClose(result, expected);
    // The result is a blob of the node, its bytes the result as JSON.
    const blob = answer['resultBlob'] as string;
    assert.match(blob, /^sha256:\/\/[0-9a-f]{64}$/);
    const blobPath = `/api/v1/blobs/sha256/${blob.slice('sha256://'.length)}`;
    const bytes = await fetch(`${node.url}${blobPath}`, { headers: { authorization: `Bearer ${ownerToken}` } });
    assert.equal(bytes.status, 200);
    assert.deepEqual(JSON.parse(await bytes.text()), result);
    // A workbench's token does not open it on the blob routes: results go through /result only.
    assert.equal((await fetch(`${node.url}${blobPath}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 401);
    const [pooled] = await pooledQuery(pooledPath, 'SELECT avg(age) AS a, var_samp(ylin) AS v FROM t');
    const results = (result as { results: Array<{ result: { groups: Array<{ values: number[] }> } }> }).results;
    assert.ok(close(results[1]!.result.groups[0]!.values[0]!, Number(pooled!['a'])), 'mean(age) is the pooled mean within 1e-9');
    assert.ok(close(results[2]!.result.groups[0]!.values[0]!, Number(pooled!['v'])), 'variance(ylin) is the pooled variance within 1e-9');
  });

  test('a FedAvg job runs every round over the three clients', async () => {
    const jobId = await submit(FEDAVG);
    const status = await waitJob(jobId);
    assert.equal((status['job'] as Json)['status'], 'done', JSON.stringify(status));
    assert.equal((status['job'] as Json)['round'], FEDAVG.rounds + 1);
    const { result } = await resultOf(jobId);
    const { roundsRun: _, ...expected } = await runJob(runner, parsePlan(FEDAVG), parts, { k: 10 });
    assertClose(result, expected);
    // Its progress was published live on compute:jobs: every round's tasks, then the end.
    const history = await fetch(`${node.url}/api/history`, { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'compute:jobs', limit: 10000 }) });
    const text = await history.text();
    assert.equal(history.status, 200, text);
    const events = ((JSON.parse(text) as { result: { publications: Array<{ data: { type: string; jobId: string; round: number; status: string } }> } }).result.publications).map((p) => p.data).filter((e) => e.jobId === jobId);
    assert.equal(events.filter((e) => e.type === 'compute.task.completed').length, 3 * (FEDAVG.rounds + 1));
    assert.deepEqual(events.filter((e) => e.type === 'compute.job.finished').map((e) => e.status), ['done']);
    assert.ok(!text.includes('"output"') && !text.includes('"weights"'), 'progress carries no outputs or results');
  });

  test('the CLI: invite (owner), submit --wait, status and result (project token from a file or the environment)', async () => {
    const invited = await runMycel(['--node', node.url, 'compute', 'invite', '--ttl', '600'], { MYCEL_OWNER_PASSWORD: PASSWORD });
    assert.equal(invited.code, 0, invited.stderr);
    assert.match(invited.stdout, /^mci_\S+\n$/);
    const forNode = await runMycel(['--node', node.url, 'compute', 'invite', '--kind', 'node'], { MYCEL_OWNER_PASSWORD: PASSWORD });
    assert.equal(forNode.code, 0, forNode.stderr);
    assert.match(forNode.stdout, /^mcn_\S+\n$/, 'an invitation for a further aggregation node');
    const planPath = join(dir, 'plan.yaml');
    writeFileSync(planPath, 'version: 1\ndatasource: trial\nkind: statistics\noperations:\n  - op: count\n');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const submitted = await runMycel(['--node', node.url, 'compute', 'submit', planPath, '--token-file', tokenFile, '--wait'], {});
    assert.equal(submitted.code, 0, submitted.stderr);
    const status = JSON.parse(submitted.stdout) as { job: { id: string; status: string } };
    assert.equal(status.job.status, 'done');
    const shown = await runMycel(['--node', node.url, 'compute', 'status', status.job.id], { MYCEL_PROJECT_TOKEN: TOKEN });
    assert.equal((JSON.parse(shown.stdout) as { tasks: unknown[] }).tasks.length, 3);
    const result = await runMycel(['--node', node.url, 'compute', 'result', status.job.id], { MYCEL_PROJECT_TOKEN: TOKEN });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { result: { results: Array<{ result: { groups: Array<{ rows: number }> } }> } }).result.results[0]!.result.groups[0]!.rows, 240);
    const wrong = await runMycel(['--node', node.url, 'compute', 'status', status.job.id], { MYCEL_PROJECT_TOKEN: 'wrong-token' });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /PROJECT_TOKEN_INVALID/);
  });

  test('a ragged CSV is a task error naming the client; the job fails and the node serves on', async () => {
    const jobId = await submit({ version: 1, datasource: 'broken', kind: 'statistics', operations: [{ op: 'sum', columns: ['a'] }] });
    const status = await waitJob(jobId);
    assert.equal((status['job'] as Json)['status'], 'failed');
    const failures = ((status['job'] as Json)['error'] as { failures: Array<{ clientId: string; error: { code: string; message: string } }> }).failures;
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.error.code, 'DATASOURCE_UNREADABLE');
    assert.match(failures[0]!.error.message, /broken/);
    const tasks = status['tasks'] as Array<{ clientName: string; status: string }>;
    assert.deepEqual(tasks.map((t) => [t.clientName, t.status]), [['client1', 'failed']]);
    assert.equal((await api('/readyz')).status, 200);
  });

  test('a client killed while idle, its key then holding a lease it never answers: the lease expires and the restarted client completes the task', async () => {
    const state = JSON.parse(readFileSync(join(dir, 'client2', CLIENT_STATE_FILE), 'utf8')) as ClientState;
    await clients[2]!.stop('SIGKILL');
    // A round trip after the kill: the node has read the dead process's shut connection before
    // the submit, so a poll it left open cannot take the new task.
    assert.equal((await api('/readyz')).status, 200);
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    const waiting = Number(/^mycel_compute_polls_waiting (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(waiting >= 0 && waiting <= 2, `polls open after the kill: ${waiting} (two live clients at most)`);
    const jobId = await submit({ ...STATS, operations: [{ op: 'count' }] });
    // Standing in for the killed process mid-task: its key takes the lease, and never answers.
    const body = '{}';
    const headers = { 'content-type': 'application/json', ...signatureHeaders(signRequest(state.keys.privateKey, { method: 'POST', path: '/api/v1/compute/poll', body, clientId: state.clientId! }, Date.now())) };
    const leased = await api('/api/v1/compute/poll', { raw: body, headers });
    assert.equal(leased.status, 200, JSON.stringify(leased.json));
    // Restarted without an invitation: the client id and keys are in its data dir.
    clients[2] = await startClient(2, null);
    const status = await waitJob(jobId, 20_000);
    assert.equal((status['job'] as Json)['status'], 'done');
    const task = (status['tasks'] as Array<{ clientId: string; attempts: number }>).find((t) => t.clientId === state.clientId)!;
    assert.equal(task.attempts, 2, 'leased twice: the expired lease, then the restarted client');
    const { result } = await resultOf(jobId);
    assert.equal((result as { results: Array<{ result: { groups: Array<{ rows: number }> } }> }).results[0]!.result.groups[0]!.rows, 240);
  });

  test('a client SIGKILLed mid-task: its lease expires, the restarted client runs the task again, the job completes (attempts 2)', async () => {
    // Client 2 alone holds `slow`: the task runs for tens of seconds, so the kill lands inside it
    // whatever the load.
    const plan = { version: 1, datasource: 'slow', kind: 'fedavg', model: 'linear', features: ['x1', 'x2', 'age'], target: 'ylin', rounds: 1, localEpochs: 1000, batchSize: 1, learningRate: 0.0001 };
    const jobId = await submit(plan);
    // Observable state: the client's log says it started the task, and the node shows the lease.
    const started = await waitFor(() => clients[2]!.lines.find((l) => l.includes('"compute task started"') && l.includes(jobId)), 20_000, 'client2 never started the task');
    const taskId = (JSON.parse(started) as { taskId: string }).taskId;
    const before = await api(`/api/v1/compute/jobs/${jobId}`, { token: TOKEN });
    const held = (before.json['tasks'] as Array<{ id: string; status: string; attempts: number }>).find((t) => t.id === taskId)!;
    assert.deepEqual([held.status, held.attempts], ['leased', 1]);
    // While the task runs, the client renews its lease every third of its length.
    const firstExpiry = (held as unknown as { leaseExpiresAt: number }).leaseExpiresAt;
    for (const deadline = Date.now() + 20_000; ; ) {
      const now = await api(`/api/v1/compute/jobs/${jobId}`, { token: TOKEN });
      const task = (now.json['tasks'] as Array<{ id: string; status: string; attempts: number; leaseExpiresAt: number }>).find((t) => t.id === taskId)!;
      assert.deepEqual([task.status, task.attempts], ['leased', 1], 'the running task stays leased to its client, with no new attempt');
      if (task.leaseExpiresAt > firstExpiry) break;
      if (Date.now() > deadline) assert.fail('the lease was never renewed');
      await new Promise((r) => setTimeout(r, 200));
    }
    const killed = await clients[2]!.stop('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    // The restarted client runs the task again from the start; a small file keeps the re-run
    // short (the result is checked against that file, so it is still the right one).
    const smallRows = makeRows(120, 29);
    writeFileSync(join(dir, 'slow.csv'), toCsv(smallRows));
    // Restarted without an invitation: its id and keys are in its data dir.
    clients[2] = await startClient(2, null);
    const status = await waitJob(jobId, 60_000);
    assert.equal((status['job'] as Json)['status'], 'done', JSON.stringify(status));
    const tasks = status['tasks'] as Array<{ id: string; attempts: number; status: string }>;
    // Leased twice: the killed process, then the restarted one after the lease expired. (Each
    // further lease would have to be a re-run that outlived its lease, refused and logged.)
    const refused = clients[2]!.lines.filter((l) => l.includes('"compute task report refused"') && l.includes(taskId)).length;
    assert.deepEqual(tasks.filter((t) => t.id === taskId).map((t) => [t.status, t.attempts]), [['done', 2 + refused]]);
    assert.ok(clients[2]!.lines.some((l) => l.includes('"compute task started"') && l.includes(taskId)), 'the restarted client ran the task');
    const { result } = await resultOf(jobId);
    const small = join(dir, 'slow-small.csv');
    writeFileSync(small, toCsv(smallRows));
    const { roundsRun: _, ...expected } = await runJob(runner, parsePlan(plan), [spec('slow', small)], { k: 10 });
    assertClose(result, expected);
  });

  test('standalone: a node that is its own client runs a job; compute.allowResourceDownload false refuses the result', async () => {
    const config = join(dir, 'standalone.yaml');
    writeFileSync(
      config,
      [
        'node:',
        '  name: standalone',
        `  dataDir: ${JSON.stringify(join(dir, 'standalone'))}`,
        'owner:',
        `  password: ${PASSWORD}`,
        'compute:',
        '  mode: standalone',
        '  heartbeatSeconds: 1',
        '  allowResourceDownload: false',
        '  projects:',
        `    - { name: solo, token: ${TOKEN} }`,
        '  datasources:',
        `    - { name: trial, type: csv, path: ${JSON.stringify(parts[0]!.path)}, tokens: [${TOKEN}] }`,
        '',
      ].join('\n'),
    );
    const solo = await startMycel({}, ['--config', config]);
    try {
      const call = async (path: string, body?: unknown) => {
        const res = await fetch(`${solo.url}${path}`, { method: body === undefined ? 'GET' : 'POST', headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
        return { status: res.status, json: (await res.json()) as Json };
      };
      const submitted = await call('/api/v1/compute/jobs', { ...STATS, operations: [{ op: 'count' }] });
      assert.equal(submitted.status, 201, JSON.stringify(submitted.json));
      const jobId = (submitted.json['job'] as Json)['id'] as string;
      let status = '';
      for (let i = 0; i < 200 && !['done', 'failed', 'partial'].includes(status); i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = ((await call(`/api/v1/compute/jobs/${jobId}`)).json['job'] as Json)['status'] as string;
      }
      assert.equal(status, 'done');
      const refused = await call(`/api/v1/compute/jobs/${jobId}/result`);
      assert.deepEqual([refused.status, (refused.json['error'] as Json)['code']], [403, 'RESOURCE_DOWNLOAD_DISABLED']);
    } finally {
      assert.equal((await solo.stop()).code, 0);
    }
  });

  test('refusals, each with its code', async () => {
    const keys = createComputeKeyPair();
    const join1 = { name: 'intruder', publicKey: keys.publicKey, datasources: [] };
    const code = (res: { status: number; json: Json }) => [res.status, (res.json['error'] as Json | undefined)?.['code']];
    assert.deepEqual(code(await api('/api/v1/compute/join', { body: { ...join1, invitation: 'mci_not-issued' } })), [401, 'INVITATION_INVALID']);
    const used = await invite();
    assert.equal((await api('/api/v1/compute/join', { body: { ...join1, invitation: used } })).status, 201);
    assert.deepEqual(code(await api('/api/v1/compute/join', { body: { ...join1, publicKey: createComputeKeyPair().publicKey, invitation: used } })), [409, 'INVITATION_USED']);
    // A request of client 0 signed with another key.
    const state = JSON.parse(readFileSync(join(dir, 'client0', CLIENT_STATE_FILE), 'utf8')) as ClientState;
    const forged = { 'content-type': 'application/json', ...signatureHeaders(signRequest(keys.privateKey, { method: 'POST', path: '/api/v1/compute/poll', body: '{}', clientId: state.clientId! }, Date.now())) };
    assert.deepEqual(code(await api('/api/v1/compute/poll', { raw: '{}', headers: forged })), [401, 'SIGNATURE_INVALID']);
    assert.deepEqual(code(await api('/api/v1/compute/poll', { raw: '{}', headers: { 'content-type': 'application/json' } })), [401, 'SIGNATURE_INVALID']);
    assert.deepEqual(code(await api('/api/v1/compute/jobs', { body: STATS, token: 'not-a-project-token' })), [401, 'PROJECT_TOKEN_INVALID']);
    assert.deepEqual(code(await api('/api/v1/compute/jobs', { body: STATS })), [401, 'PROJECT_TOKEN_INVALID']);
    assert.deepEqual(code(await api('/api/v1/compute/jobs', { body: { ...STATS, operations: [{ op: 'median', columns: ['age'] }] }, token: TOKEN })), [400, 'OPERATION_UNKNOWN']);
    assert.deepEqual(code(await api('/api/v1/compute/jobs', { body: { ...STATS, operations: [{ op: 'mean', columns: [] }] }, token: TOKEN })), [400, 'PLAN_INVALID']);
    assert.deepEqual(code(await api('/api/v1/compute/jobs/01900000-0000-7000-8000-000000000000', { token: TOKEN })), [404, 'JOB_NOT_FOUND']);
  });
});
