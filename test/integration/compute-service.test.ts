// The node's compute service (src/compute/compute-service.ts) over a real domain on SQLite:
// submit → rounds leased by three clients, run by the TaskRunner on their CSV splits → merged
// result equal to the coordinator run directly; a service restarted mid-job replays the round
// state from the stored outputs; a failing client makes the job partial with its error named;
// a bad plan is refused before anything is stored.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ComputeService, taskErrorValue } from '../../src/compute/compute-service.js';
import type { DatasourceSpec } from '../../src/compute/datasource.js';
import { parsePlan } from '../../src/compute/plan.js';
import { TaskRunner } from '../../src/compute/run-task.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { MycelError } from '../../src/errors.js';
import { createStorage } from '../../src/storage/index.js';
import { joinClient, openComputeCore, PROJECTS, type JoinedClient } from '../helpers/compute-queue.js';
import { makeRows, runJob, writeSplit } from '../helpers/compute.js';
import { silentLog } from '../helpers/core.js';

const TOKEN = PROJECTS[0].token;
const STATS = { version: 1, datasource: 'trial', kind: 'statistics', operations: [{ op: 'mean', columns: ['age', 'bmi'], groupBy: ['site'] }, { op: 'quantiles', columns: ['age'], probabilities: [0.5] }] };
const FEDAVG = { version: 1, datasource: 'trial', kind: 'fedavg', model: 'linear', features: ['x1', 'x2'], target: 'ylin', rounds: 3, localEpochs: 2, learningRate: 0.1 };

describe('compute service', () => {
  let dir: string;
  let core: NodeCore;
  let parts: DatasourceSpec[];
  let clients: JoinedClient[];
  const runner = new TaskRunner();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mycel-compute-service-'));
    parts = writeSplit(dir, makeRows(300, 7)).parts;
    const storage = createStorage({ url: ':memory:', dataDir: '' });
    await storage.migrate();
    core = await openComputeCore(storage);
    clients = [];
    for (let i = 0; i < 3; i++) clients.push(await joinClient(core, `c${i}`, 'trial'));
  });
  after(async () => {
    await runner.close();
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const service = () => new ComputeService({ queue: core.compute.queue, projects: core.compute.projects, storage: core.storage, log: silentLog });

  /** Every client leases and runs its tasks until none is left; `fail` names a client whose tasks fail. */
  async function drain(svc: () => ComputeService, fail?: number): Promise<void> {
    for (let guard = 0; guard < 100; guard++) {
      let any = false;
      for (const [i, c] of clients.entries()) {
        const leased = await core.compute.queue.leaseNextTask(c.client.id);
        if (!leased) continue;
        any = true;
        if (i === fail) {
          await svc().failTask(c.client.id, leased.task.id, leased.leaseId, taskErrorValue(new MycelError('DATASOURCE_UNREADABLE', { reason: 'ragged' }, 'trial: line 3 is ragged')));
          continue;
        }
        const output = await runner.run(leased.task.input, parts[i]!, { timeoutMs: 60_000, threads: 1 });
        await svc().completeTask(c.client.id, leased.task.id, leased.leaseId, output);
      }
      if (!any) return;
    }
    throw new Error('tasks did not drain');
  }

  test('a two-round statistics job matches the coordinator run directly', async () => {
    const svc = service();
    const job = await svc.submit(TOKEN, STATS);
    await drain(() => svc);
    const status = await core.compute.queue.jobStatus({ token: TOKEN }, job.id);
    assert.equal(status.job.status, 'done');
    assert.equal(status.job.round, 2);
    const direct = await runJob(runner, parsePlan(STATS), parts, { k: 10 });
    const { roundsRun: _, ...expected } = direct;
    assert.deepEqual(status.job.result, expected);
  });

  test('a FedAvg job survives a service restart between rounds (state replayed from stored outputs)', async () => {
    const job = await service().submit(TOKEN, FEDAVG);
    // A fresh service for every completion: no round state in memory, always replayed.
    await drain(() => service());
    const status = await core.compute.queue.jobStatus({ token: TOKEN }, job.id);
    assert.equal(status.job.status, 'done');
    const { roundsRun: _, ...expected } = await runJob(runner, parsePlan(FEDAVG), parts, { k: 10 });
    assert.deepEqual(status.job.result, expected);
  });

  test('a failing client makes the job partial, naming the client and its error', async () => {
    const svc = service();
    const job = await svc.submit(TOKEN, STATS);
    await drain(() => svc, 1);
    const status = await core.compute.queue.jobStatus({ token: TOKEN }, job.id);
    assert.equal(status.job.status, 'partial');
    const error = status.job.error as { failures: Array<{ clientId: string; error: { code: string; message: string } }> };
    assert.equal(error.failures.length, 1);
    assert.equal(error.failures[0]!.clientId, clients[1]!.client.id);
    assert.equal(error.failures[0]!.error.code, 'DATASOURCE_UNREADABLE');
    assert.equal((status.job.result as { clients: number }).clients, 2);
  });

  test('resume() merges a round completed while no service ran', async () => {
    const job = await service().submit(TOKEN, { ...STATS, operations: [{ op: 'count' }] });
    for (const [i, c] of clients.entries()) {
      const leased = (await core.compute.queue.leaseNextTask(c.client.id))!;
      const output = await runner.run(leased.task.input, parts[i]!, { timeoutMs: 60_000, threads: 1 });
      await core.compute.queue.completeTask(c.client.id, leased.task.id, leased.leaseId, output);
    }
    assert.equal((await core.compute.queue.jobStatus({ token: TOKEN }, job.id)).job.status, 'running');
    assert.equal(await service().resume(), 1);
    const status = await core.compute.queue.jobStatus({ token: TOKEN }, job.id);
    assert.equal(status.job.status, 'done');
    assert.equal((status.job.result as { results: Array<{ result: { groups: Array<{ rows: number }> } }> }).results[0]!.result.groups[0]!.rows, 300);
  });

  test('round deadline: resume() fails the task of a client that never answered; the job ends partial, naming it', async () => {
    const svc = new ComputeService({ queue: core.compute.queue, projects: core.compute.projects, storage: core.storage, log: silentLog, roundTimeoutSeconds: 3600 });
    const defaulted = await svc.submit(TOKEN, { ...STATS, operations: [{ op: 'count' }] });
    assert.equal((defaulted.plan as { roundTimeoutSeconds: number }).roundTimeoutSeconds, 3600, 'the node default is written into the stored plan');
    await drain(() => svc);
    const job = await svc.submit(TOKEN, { ...STATS, operations: [{ op: 'count' }], roundTimeoutSeconds: 1 });
    assert.equal((job.plan as { roundTimeoutSeconds: number }).roundTimeoutSeconds, 1);
    // Clients 0 and 1 answer; client 2 has vanished.
    for (const i of [0, 1]) {
      const leased = (await core.compute.queue.leaseNextTask(clients[i]!.client.id))!;
      const output = await runner.run(leased.task.input, parts[i]!, { timeoutMs: 60_000, threads: 1 });
      await svc.completeTask(clients[i]!.client.id, leased.task.id, leased.leaseId, output);
    }
    // (The domain's tests check, on a test clock, that nothing fails before the deadline.)
    const until = Date.now() + 30_000;
    while ((await core.compute.queue.jobStatus({ token: TOKEN }, job.id)).job.status === 'running') {
      assert.ok(Date.now() < until, 'the job did not end after its round deadline');
      await svc.resume();
      await new Promise((r) => setTimeout(r, 100));
    }
    const status = await core.compute.queue.jobStatus({ token: TOKEN }, job.id);
    assert.equal(status.job.status, 'partial');
    assert.equal((status.job.result as { clients: number }).clients, 2);
    const failures = (status.job.error as { failures: Array<{ clientId: string; error: { code: string; message: string } }> }).failures;
    assert.deepEqual(failures.map((f) => [f.clientId, f.error.code]), [[clients[2]!.client.id, 'TASK_DEADLINE_EXCEEDED']]);
    assert.match(failures[0]!.error.message, /client c2 .* did not answer round 1/);
  });

  test('with a blob store the result is stored as canonical JSON bytes and the job names their sha256', async () => {
    const stored = new Map<string, Buffer>();
    const storeResult = async (bytes: Buffer) => {
      const sha = createHash('sha256').update(bytes).digest('hex');
      stored.set(sha, bytes);
      return sha;
    };
    const plan = { ...STATS, operations: [{ op: 'count', groupBy: ['site'] }] };
    const inline = await service().submit(TOKEN, plan);
    await drain(() => service());
    const expected = (await core.compute.queue.jobStatus({ token: TOKEN }, inline.id)).job;
    assert.equal(expected.resultBlobSha256, null, 'no blob store: the result stays in the database');
    const svc = new ComputeService({ queue: core.compute.queue, projects: core.compute.projects, storage: core.storage, log: silentLog, storeResult });
    const job = await svc.submit(TOKEN, plan);
    await drain(() => svc);
    const done = (await core.compute.queue.jobStatus({ token: TOKEN }, job.id)).job;
    assert.equal(done.status, 'done');
    assert.equal(done.result, null);
    assert.ok(done.resultBlobSha256 && stored.has(done.resultBlobSha256));
    assert.deepEqual(JSON.parse(stored.get(done.resultBlobSha256)!.toString('utf8')), expected.result);
  });

  test('bad plans are refused before a job exists', async () => {
    const before = (await core.compute.queue.listJobs({ token: TOKEN })).items.length;
    await assert.rejects(service().submit(TOKEN, { ...STATS, operations: [{ op: 'median' }] }), (e: unknown) => e instanceof MycelError && e.code === 'OPERATION_UNKNOWN');
    await assert.rejects(service().submit(TOKEN, { ...STATS, operations: [{ op: 'mean' }] }), (e: unknown) => e instanceof MycelError && e.code === 'PLAN_INVALID');
    await assert.rejects(service().submit('nope', STATS), (e: unknown) => e instanceof MycelError && e.code === 'PROJECT_TOKEN_INVALID');
    assert.equal((await core.compute.queue.listJobs({ token: TOKEN })).items.length, before);
  });
});
