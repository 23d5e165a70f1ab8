// Several instances of one node share the compute queue on PostgreSQL (docs/compute.md, Node
// side): two cores on one schema lease concurrently and every task is leased exactly once; a
// poll waiting on one instance returns when the other submits (LISTEN/NOTIFY). And, on both
// storages, a property: any interleaving of lease / complete / fail / clock moves keeps each
// task with at most one valid lease and its counts consistent.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import fc from 'fast-check';
import type { NodeCore } from '../../src/domain/node-core.js';
import { MycelError } from '../../src/errors.js';
import { joinClient, openComputeCore, PROJECTS, TestClock, type JoinedClient } from '../helpers/compute-queue.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

const TOKEN = PROJECTS[0].token;
const postgres = storageBackends.find((b) => b.name === 'postgres')!;

describe('compute queue shared by two instances: postgres', () => {
  let h: StorageHandle;
  let one: NodeCore;
  let two: NodeCore;
  beforeEach(async () => {
    h = await postgres.create();
    one = await openComputeCore(h.storage);
    two = await openComputeCore(h.open());
  });
  afterEach(async () => {
    await one.close();
    await two.close();
    await h.cleanup();
  });

  test('concurrent leases from both instances hand every task out exactly once', async () => {
    assert.equal(one.node.id, two.node.id);
    const a = await joinClient(one, 'a');
    const jobs = 40;
    for (let i = 0; i < jobs; i++) await one.compute.queue.submitJob(TOKEN, { plan: { i }, datasource: 'cohort', firstRoundInput: i });
    const leased: string[] = [];
    const drain = async (core: NodeCore) => {
      for (;;) {
        const t = await core.compute.queue.leaseNextTask(a.client.id);
        if (!t) return;
        leased.push(t.task.id);
      }
    };
    await Promise.all([drain(one), drain(two), drain(one), drain(two)]);
    assert.equal(leased.length, jobs);
    assert.equal(new Set(leased).size, jobs, 'no task leased twice');
    const tasks = (await Promise.all((await h.storage.listComputeJobs(null, { limit: 100 })).map((j) => h.storage.listComputeTasks(j.id)))).flat();
    assert.ok(tasks.every((t) => t.status === 'leased' && t.attempts === 1));
  });

  test('round deadline swept by both instances at once: each unanswered task fails exactly once', async () => {
    const clock = new TestClock();
    const first = await openComputeCore(h.open(), clock);
    const second = await openComputeCore(h.open(), clock);
    try {
      const clients = [await joinClient(first, 'a'), await joinClient(first, 'b'), await joinClient(first, 'c')];
      const jobs = [];
      for (let i = 0; i < 5; i++) jobs.push((await first.compute.queue.submitJob(TOKEN, { plan: { i }, datasource: 'cohort', firstRoundInput: i })).job);
      await second.compute.queue.leaseNextTask(clients[0]!.client.id);
      clock.advance(60_000);
      const sweeps = await Promise.all([first, second, first, second].map(async (core) => (await core.compute.queue.sweepRounds(() => 60)).closed));
      const failedByAll = sweeps.flat().flatMap((r) => r.clientIds.map((id) => `${r.jobId}/${id}`));
      assert.equal(failedByAll.length, jobs.length * clients.length);
      assert.equal(new Set(failedByAll).size, failedByAll.length, 'no task failed twice');
      const changes = (await h.storage.getChanges(1, 10_000)).filter((c) => c.type === 'compute.task.failed');
      assert.equal(changes.length, jobs.length * clients.length);
      assert.equal((await one.compute.queue.readyRounds()).length, jobs.length);
    } finally {
      await first.close();
      await second.close();
    }
  });

  test('a poll waiting on one instance returns when the other instance submits', async () => {
    const a = await joinClient(one, 'a');
    const polling = two.compute.queue.pollTask(a.client.id, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    const submittedAt = performance.now();
    await one.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 1 });
    const leased = await polling;
    const latency = performance.now() - submittedAt;
    assert.ok(leased, 'the other instance leased the task');
    assert.ok(latency < 3000, `returned ${latency.toFixed(1)} ms after the submit`);
  });
});

type Op =
  | { kind: 'lease'; client: number }
  | { kind: 'complete' | 'fail'; client: number; pick: number; stale: boolean }
  | { kind: 'advance'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('lease' as const), client: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ kind: fc.constantFrom('complete' as const, 'fail' as const), client: fc.integer({ min: 0, max: 1 }), pick: fc.nat(20), stale: fc.boolean() }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 2500 }) }),
);

for (const backend of storageBackends) {
  describe(`compute lease property: ${backend.name}`, () => {
    test('any interleaving keeps each task with at most one valid lease and consistent counts', async () => {
      const runs = backend.name === 'sqlite' ? 15 : 6;
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
          const h = await backend.create();
          const clock = new TestClock();
          const core = await openComputeCore(h.storage, clock);
          try {
            const clients: JoinedClient[] = [await joinClient(core, 'a'), await joinClient(core, 'b')];
            await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 0, leaseSeconds: 1, maxAttempts: 3 });
            await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 1, leaseSeconds: 2, maxAttempts: 2 });
            /** Every lease ever handed out: task, client, lease id, expiry. */
            const leases: Array<{ taskId: string; client: number; leaseId: string; expiresAt: number }> = [];
            const finishedBy = new Map<string, string>();
            const leasesOf = new Map<string, number>();
            for (const op of ops) {
              if (op.kind === 'advance') {
                clock.advance(op.ms);
              } else if (op.kind === 'lease') {
                const t = await core.compute.queue.leaseNextTask(clients[op.client]!.client.id);
                if (t) {
                  assert.equal(t.task.clientId, clients[op.client]!.client.id, 'a client leases its own tasks only');
                  // the task had no valid lease at this moment
                  const live = leases.filter((l) => l.taskId === t.task.id && l.expiresAt > clock.now() && !finishedBy.has(l.taskId));
                  assert.equal(live.length, 0, 'a task with a valid lease is not leased again');
                  assert.ok(!finishedBy.has(t.task.id), 'a finished task is not leased');
                  leases.push({ taskId: t.task.id, client: op.client, leaseId: t.leaseId, expiresAt: t.leaseExpiresAt });
                  leasesOf.set(t.task.id, (leasesOf.get(t.task.id) ?? 0) + 1);
                  assert.equal(t.task.attempts, leasesOf.get(t.task.id));
                }
              } else {
                const mine = leases.filter((l) => l.client === op.client);
                if (mine.length === 0) continue;
                const l = mine[op.pick % mine.length]!;
                const latest = leases.filter((x) => x.taskId === l.taskId).at(-1)!;
                const valid = latest === l && l.expiresAt > clock.now() && !finishedBy.has(l.taskId);
                const leaseId = op.stale ? '00000000-0000-7000-8000-000000000000' : l.leaseId;
                const call =
                  op.kind === 'complete'
                    ? core.compute.queue.completeTask(clients[op.client]!.client.id, l.taskId, leaseId, { ok: 1 })
                    : core.compute.queue.failTask(clients[op.client]!.client.id, l.taskId, leaseId, { message: 'x' });
                const outcome = await call.then(
                  () => 'ok',
                  (err: unknown) => {
                    assert.ok(err instanceof MycelError && err.code === 'LEASE_NOT_HELD', String(err));
                    return 'refused';
                  },
                );
                assert.equal(outcome, valid && !op.stale ? 'ok' : 'refused', `${op.kind} with a ${valid ? 'valid' : 'stale'} lease`);
                if (outcome === 'ok') finishedBy.set(l.taskId, leaseId);
              }
            }
            // Counts: the tables agree with what was handed out and finished.
            for (const job of await h.storage.listComputeJobs(null, { limit: 10 })) {
              for (const t of await h.storage.listComputeTasks(job.id)) {
                assert.equal(t.attempts, leasesOf.get(t.id) ?? 0, 'attempts count the leases');
                assert.ok(t.attempts <= job.maxAttempts);
                if (finishedBy.has(t.id)) assert.ok(t.status === 'done' || t.status === 'failed');
                if (t.status === 'leased') assert.equal(t.leaseId, leases.filter((l) => l.taskId === t.id).at(-1)!.leaseId);
                if (t.status === 'failed' && !finishedBy.has(t.id)) assert.equal((t.error as { code: string }).code, 'TASK_ATTEMPTS_EXHAUSTED');
              }
            }
          } finally {
            await core.close();
            await h.cleanup();
          }
        }),
        { numRuns: runs },
      );
    });
  });
}
