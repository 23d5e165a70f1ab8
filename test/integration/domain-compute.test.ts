// Federated compute, node side (src/domain/compute-*.ts, docs/compute.md "Node side") on SQLite
// and PostgreSQL: projects from config (rotation), single-use invitations and joins with proved
// bindings, signed requests, jobs and tasks, leases (expiry, attempts, the holder only), rounds,
// the long poll, replication of every compute change to a second core and verify's replay.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { OWNER, SYSTEM, type Actor } from '../../src/domain/actor.js';
import { contentDigest } from '../../src/domain/digest.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { verifyContent } from '../../src/domain/verify-content.js';
import { MycelError, type ErrorCode } from '../../src/errors.js';
import { bindingProof } from '../../src/lib/binding-proof.js';
import { createComputeKeyPair, signatureHeaders, signRequest } from '../../src/lib/signed-request.js';
import { COMPUTE_CHANGE_TYPES } from '../../src/model/compute.js';
import { createStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/storage.js';
import { joinClient, openComputeCore, PROJECTS, TestClock } from '../helpers/compute-queue.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

const TOKEN = PROJECTS[0].token;
const alice: Actor = { kind: 'user', userId: 'alice' };

function isCode(code: ErrorCode) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof MycelError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  };
}

async function memoryStorage(): Promise<Storage> {
  const s = createStorage({ url: ':memory:', dataDir: '' });
  await s.migrate();
  return s;
}

for (const backend of storageBackends) {
  describe(`compute domain: ${backend.name}`, () => {
    let h: StorageHandle;
    let core: NodeCore;
    let clock: TestClock;
    beforeEach(async () => {
      h = await backend.create();
      clock = new TestClock();
      core = await openComputeCore(h.storage, clock);
    });
    afterEach(async () => {
      await core.close();
      await h.cleanup();
    });

    test('projects: created once from the configuration, tokens rotate, an unconfigured project opens no more', async () => {
      const projects = await core.compute.projects.list();
      assert.deepEqual(projects.map((p) => p.name).sort(), ['other', 'study']);
      const again = await core.compute.projects.ensure(PROJECTS);
      assert.deepEqual(again, { created: [], rotated: [], unconfigured: [] });
      const changes = (await h.storage.getChanges(1, 1000)).filter((c) => c.type === 'compute.project.created');
      assert.equal(changes.length, 2);
      assert.ok(!JSON.stringify(changes).includes('tok-'), 'no token in a change');
      assert.equal((await core.compute.projects.byToken(TOKEN)).name, 'study');

      const rotated = await core.compute.projects.ensure([{ name: 'study', token: 'tok-new' }]);
      assert.deepEqual(rotated, { created: [], rotated: ['study'], unconfigured: ['other'] });
      await assert.rejects(core.compute.projects.byToken(TOKEN), isCode('PROJECT_TOKEN_INVALID'));
      await assert.rejects(core.compute.projects.byToken(PROJECTS[1].token), isCode('PROJECT_TOKEN_INVALID'));
      assert.equal((await core.compute.projects.byToken('tok-new')).name, 'study');
      // tokens swapped between two projects
      await core.compute.projects.ensure([{ name: 'study', token: 'B' }, { name: 'other', token: 'A' }]);
      await core.compute.projects.ensure([{ name: 'study', token: 'A' }, { name: 'other', token: 'B' }]);
      assert.equal((await core.compute.projects.byToken('A')).name, 'study');
      await assert.rejects(core.compute.projects.ensure([{ name: 'x', token: 'same' }, { name: 'y', token: 'same' }]), isCode('CONFIG_INVALID'));
      await assert.rejects(core.compute.projects.byToken(''), isCode('PROJECT_TOKEN_INVALID'));
    });

    test('invitations: owner only, single use, expire; unknown ones are refused', async () => {
      await assert.rejects(core.compute.clients.createInvitation(alice, 60), isCode('FORBIDDEN'));
      await assert.rejects(core.compute.clients.createInvitation(OWNER, 0), isCode('VALIDATION_FAILED'));
      const keys = createComputeKeyPair();
      const join = (secret: string, k = keys) =>
        core.compute.clients.join({ invitationSecret: secret, name: 'c1', publicKey: k.publicKey, datasources: [{ name: 'cohort', type: 'csv', proofs: [bindingProof(TOKEN, k.publicKey, 'cohort')] }] });
      const inv = await core.compute.clients.createInvitation(OWNER, 60);
      const client = await join(inv.secret);
      assert.deepEqual(client.datasources, [{ name: 'cohort', type: 'csv', projects: ['study'] }]);
      await assert.rejects(join(inv.secret, createComputeKeyPair()), isCode('INVITATION_USED'));
      await assert.rejects(join('mci_unknown'), isCode('INVITATION_INVALID'));
      const short = await core.compute.clients.createInvitation(OWNER, 1);
      clock.advance(1000);
      await assert.rejects(join(short.secret, createComputeKeyPair()), isCode('INVITATION_EXPIRED'));
      // the same key cannot join twice
      const inv2 = await core.compute.clients.createInvitation(OWNER, 60);
      await assert.rejects(join(inv2.secret), isCode('COMPUTE_CLIENT_EXISTS'));
      // …and the failed join left the invitation unused
      assert.equal((await join(inv2.secret, createComputeKeyPair())).name, 'c1');
      const joined = (await h.storage.getChanges(1, 1000)).filter((c) => c.type === 'compute.client.joined');
      assert.equal(joined.length, 2);
      assert.ok(!JSON.stringify(joined).includes(inv.secret) && !JSON.stringify(joined).includes('secretHash'));
    });

    test('a join with a proof no configured token made is refused and consumes nothing', async () => {
      const keys = createComputeKeyPair();
      const inv = await core.compute.clients.createInvitation(OWNER, 60);
      const attempt = (proof: string) =>
        core.compute.clients.join({ invitationSecret: inv.secret, name: 'c', publicKey: keys.publicKey, datasources: [{ name: 'cohort', type: 'csv', proofs: [proof] }] });
      await assert.rejects(attempt(bindingProof('not-a-project-token', keys.publicKey, 'cohort')), isCode('COMPUTE_BINDING_INVALID'));
      // a proof made for another key or datasource proves nothing here
      await assert.rejects(attempt(bindingProof(TOKEN, createComputeKeyPair().publicKey, 'cohort')), isCode('COMPUTE_BINDING_INVALID'));
      await assert.rejects(attempt(bindingProof(TOKEN, keys.publicKey, 'other-ds')), isCode('COMPUTE_BINDING_INVALID'));
      assert.equal((await attempt(bindingProof(TOKEN, keys.publicKey, 'cohort'))).datasources[0]!.projects[0], 'study');
    });

    test('concurrent joins with one invitation: exactly one wins', async () => {
      const inv = await core.compute.clients.createInvitation(OWNER, 60);
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => {
          const k = createComputeKeyPair();
          return core.compute.clients.join({ invitationSecret: inv.secret, name: `c${i}`, publicKey: k.publicKey, datasources: [] });
        }),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') isCode('INVITATION_USED')(r.reason);
    });

    test('signed requests authenticate their client; another key or a replay does not', async () => {
      const a = await joinClient(core, 'a');
      const b = await joinClient(core, 'b');
      const parts = { method: 'POST', path: '/api/v1/compute/lease', body: '{}', clientId: a.client.id };
      const values = signRequest(a.keys.privateKey, parts, clock.now());
      const req = { method: 'POST', path: parts.path, body: '{}', headers: signatureHeaders(values) };
      assert.equal((await core.compute.clients.authenticate(req)).id, a.client.id);
      await assert.rejects(core.compute.clients.authenticate(req), isCode('SIGNATURE_REPLAYED'));
      const forged = signRequest(b.keys.privateKey, parts, clock.now());
      await assert.rejects(core.compute.clients.authenticate({ ...req, headers: signatureHeaders(forged) }), isCode('SIGNATURE_INVALID'));
      await assert.rejects(core.compute.clients.authenticate({ ...req, headers: {} }), isCode('SIGNATURE_INVALID'));
      const stale = signRequest(a.keys.privateKey, parts, clock.now() - 10 * 60_000);
      await assert.rejects(core.compute.clients.authenticate({ ...req, headers: signatureHeaders(stale) }), isCode('SIGNATURE_EXPIRED'));
    });

    test('submit: one task per client bound to the project and datasource; none → JOB_NO_CLIENTS; bounded values', async () => {
      await assert.rejects(core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: null }), isCode('JOB_NO_CLIENTS'));
      const a = await joinClient(core, 'a');
      const b = await joinClient(core, 'b');
      await joinClient(core, 'other-project', 'cohort', [PROJECTS[1].token]);
      await joinClient(core, 'other-ds', 'registry');
      const { job, tasks } = await core.compute.queue.submitJob(TOKEN, { plan: { op: 'count' }, datasource: 'cohort', firstRoundInput: { q: 1 } });
      assert.equal(job.status, 'queued');
      assert.deepEqual(tasks.map((t) => t.clientId).sort(), [a.client.id, b.client.id].sort());
      await assert.rejects(core.compute.queue.submitJob('wrong', { plan: {}, datasource: 'cohort', firstRoundInput: null }), isCode('PROJECT_TOKEN_INVALID'));
      await assert.rejects(
        core.compute.queue.submitJob(TOKEN, { plan: { blob: 'x'.repeat(1024 * 1024) }, datasource: 'cohort', firstRoundInput: null }),
        isCode('COMPUTE_VALUE_TOO_LARGE'),
      );
      await assert.rejects(core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'bad name', firstRoundInput: null }), isCode('VALIDATION_FAILED'));
      await assert.rejects(core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: null, maxAttempts: 0 }), isCode('VALIDATION_FAILED'));
      // a token sees its project's jobs only
      assert.equal((await core.compute.queue.listJobs({ token: TOKEN })).items.length, 1);
      assert.equal((await core.compute.queue.listJobs({ token: PROJECTS[1].token })).items.length, 0);
      await assert.rejects(core.compute.queue.jobStatus({ token: PROJECTS[1].token }, job.id), isCode('JOB_NOT_FOUND'));
      await assert.rejects(core.compute.queue.listJobs({ actor: alice }), isCode('FORBIDDEN'));
      assert.equal((await core.compute.queue.listJobs({ actor: OWNER })).items.length, 1);
    });

    test('leases: the holder completes, others and stale leases are refused; rounds advance and the job finishes', async () => {
      const a = await joinClient(core, 'a');
      const b = await joinClient(core, 'b');
      const { job } = await core.compute.queue.submitJob(TOKEN, { plan: { op: 'mean' }, datasource: 'cohort', firstRoundInput: { r: 1 } });
      const la = (await core.compute.queue.leaseNextTask(a.client.id))!;
      assert.equal(la.task.clientId, a.client.id);
      assert.equal(la.task.attempts, 1);
      assert.equal(la.leaseExpiresAt, clock.now() + 60_000);
      assert.deepEqual(la.job, { id: job.id, projectId: job.projectId, projectName: 'study', plan: { op: 'mean' }, round: 1, datasource: 'cohort', leaseSeconds: 60 });
      assert.equal(await core.compute.queue.leaseNextTask(a.client.id), null, 'one task per client per round');
      assert.equal((await h.storage.getComputeJob(job.id))!.status, 'running');

      await assert.rejects(core.compute.queue.completeTask(b.client.id, la.task.id, la.leaseId, 1), isCode('LEASE_NOT_HELD'));
      await assert.rejects(core.compute.queue.completeTask(a.client.id, la.task.id, b.client.id, 1), isCode('LEASE_NOT_HELD'));
      await assert.rejects(core.compute.queue.completeTask(a.client.id, '00000000-0000-7000-8000-000000000000', la.leaseId, 1), isCode('TASK_NOT_FOUND'));
      const first = await core.compute.queue.completeTask(a.client.id, la.task.id, la.leaseId, { sum: 3 });
      assert.equal(first.roundComplete, false);
      await assert.rejects(core.compute.queue.completeTask(a.client.id, la.task.id, la.leaseId, 1), isCode('LEASE_NOT_HELD'), 'a done task takes no second result');
      await assert.rejects(core.compute.queue.advanceJob(job.id, 1, { finish: { status: 'done' } }), isCode('ROUND_NOT_COMPLETE'));

      const lb = (await core.compute.queue.leaseNextTask(b.client.id))!;
      const second = await core.compute.queue.failTask(b.client.id, lb.task.id, lb.leaseId, { code: 'DATASOURCE_UNREADABLE', message: 'no file' });
      assert.equal(second.roundComplete, true);
      assert.deepEqual(await core.compute.queue.readyRounds(), [{ jobId: job.id, round: 1 }]);

      const next = await core.compute.queue.advanceJob(job.id, 1, { nextRound: { inputs: { [a.client.id]: { r: 2 } } } });
      assert.equal(next.round, 2);
      assert.equal((await core.compute.queue.advanceJob(job.id, 1, { nextRound: { inputs: { [a.client.id]: { r: 2 } } } })).round, 2, 'repeated advance is a no-op');
      assert.equal((await h.storage.listComputeTasks(job.id)).length, 3);
      await assert.rejects(core.compute.queue.advanceJob(job.id, 3, { finish: { status: 'done' } }), isCode('JOB_ROUND_MISMATCH'));
      await assert.rejects(
        core.compute.queue.advanceJob(job.id, 2, { nextRound: { inputs: { '00000000-0000-7000-8000-000000000000': 1 } } }),
        isCode('ROUND_NOT_COMPLETE'),
      );
      const l2 = (await core.compute.queue.leaseNextTask(a.client.id))!;
      assert.deepEqual(l2.task.input, { r: 2 });
      assert.equal((await core.compute.queue.completeTask(a.client.id, l2.task.id, l2.leaseId, { mean: 1.5 })).roundComplete, true);
      const done = await core.compute.queue.advanceJob(job.id, 2, { finish: { status: 'partial', result: { mean: 1.5 } } });
      assert.equal(done.status, 'partial');
      assert.deepEqual(done.result, { mean: 1.5 });
      assert.deepEqual((done.error as { failures: unknown[] }).failures, [{ taskId: lb.task.id, round: 1, clientId: b.client.id, error: { code: 'DATASOURCE_UNREADABLE', message: 'no file' } }]);
      assert.equal((await core.compute.queue.advanceJob(job.id, 2, { finish: { status: 'partial' } })).updatedAt, done.updatedAt, 'repeated finish is a no-op');
      await assert.rejects(core.compute.queue.advanceJob(job.id, 2, { finish: { status: 'done' } }), isCode('JOB_ROUND_MISMATCH'));
      assert.deepEqual(await core.compute.queue.readyRounds(), []);

      const status = await core.compute.queue.jobStatus({ token: TOKEN }, job.id);
      assert.equal(status.projectName, 'study');
      const failed = status.tasks.find((t) => t.status === 'failed')!;
      assert.equal(failed.clientName, 'b');
      assert.deepEqual(failed.error, { code: 'DATASOURCE_UNREADABLE', message: 'no file' });
    });

    test('an expired lease is leased again (fresh id); the old holder is refused; attempts run out', async () => {
      const a = await joinClient(core, 'a');
      const { job } = await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 0, leaseSeconds: 1, maxAttempts: 2 });
      const first = (await core.compute.queue.leaseNextTask(a.client.id))!;
      clock.advance(999);
      assert.equal(await core.compute.queue.leaseNextTask(a.client.id), null, 'not yet expired');
      clock.advance(1);
      await assert.rejects(core.compute.queue.completeTask(a.client.id, first.task.id, first.leaseId, 1), isCode('LEASE_NOT_HELD'), 'expired: refused');
      const second = (await core.compute.queue.leaseNextTask(a.client.id))!;
      assert.equal(second.task.id, first.task.id);
      assert.notEqual(second.leaseId, first.leaseId);
      assert.equal(second.task.attempts, 2);
      await assert.rejects(core.compute.queue.completeTask(a.client.id, first.task.id, first.leaseId, 1), isCode('LEASE_NOT_HELD'), 'reassigned: the old lease is refused');
      clock.advance(1000);
      assert.equal(await core.compute.queue.leaseNextTask(a.client.id), null, 'attempts exhausted: the task fails instead');
      const task = (await h.storage.getComputeTask(first.task.id))!;
      assert.equal(task.status, 'failed');
      assert.equal((task.error as { code: string }).code, 'TASK_ATTEMPTS_EXHAUSTED');
      assert.deepEqual(await core.compute.queue.readyRounds(), [{ jobId: job.id, round: 1 }]);
      const finished = await core.compute.queue.advanceJob(job.id, 1, { finish: { status: 'failed' } });
      assert.equal(((finished.error as { failures: Array<{ clientId: string }> }).failures[0]!).clientId, a.client.id);
    });

    test('round deadline: the unanswered tasks of an overdue round fail with TASK_DEADLINE_EXCEEDED naming their client, once', async () => {
      const a = await joinClient(core, 'a');
      const b = await joinClient(core, 'b');
      const c = await joinClient(core, 'c');
      const timeouts = { seconds: 30 as number | null };
      const sweep = async () => (await core.compute.queue.sweepRounds(() => timeouts.seconds)).closed;
      const { job } = await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 0, leaseSeconds: 5 });
      // a answers; b took a lease and vanished (its lease expires, nobody polls again); c never polled.
      const la = (await core.compute.queue.leaseNextTask(a.client.id))!;
      await core.compute.queue.completeTask(a.client.id, la.task.id, la.leaseId, { n: 1 });
      const lb = (await core.compute.queue.leaseNextTask(b.client.id))!;
      clock.advance(29_999);
      assert.deepEqual(await sweep(), [], 'not yet overdue');
      timeouts.seconds = null;
      clock.advance(1);
      assert.deepEqual(await sweep(), [], 'no deadline: nothing fails');
      timeouts.seconds = 30;
      const closed = await sweep();
      assert.equal(closed.length, 1);
      assert.deepEqual({ ...closed[0]!, clientIds: [...closed[0]!.clientIds].sort() }, { jobId: job.id, round: 1, clientIds: [b.client.id, c.client.id].sort() });
      assert.deepEqual(await sweep(), [], 'a second sweep fails nothing more');
      const tasks = await h.storage.listComputeTasks(job.id);
      assert.equal(tasks.find((t) => t.clientId === a.client.id)!.status, 'done', 'the answer given in time stands');
      for (const [who, status] of [[b, 'leased'], [c, 'queued']] as const) {
        const t = tasks.find((x) => x.clientId === who.client.id)!;
        assert.equal(t.status, 'failed');
        const error = t.error as { code: string; message: string; details: Record<string, unknown> };
        assert.equal(error.code, 'TASK_DEADLINE_EXCEEDED');
        assert.match(error.message, new RegExp(`client ${who.client.name} \\(${who.client.id}\\) did not answer round 1`));
        assert.equal(error.details.statusAtDeadline, status);
        assert.equal(error.details.deadlineAt, job.createdAt + 30_000);
        assert.equal(error.details.roundTimeoutSeconds, 30);
      }
      await assert.rejects(core.compute.queue.completeTask(b.client.id, lb.task.id, lb.leaseId, 1), isCode('LEASE_NOT_HELD'), 'a late answer is refused');
      assert.equal(await core.compute.queue.leaseNextTask(c.client.id), null, 'nothing left to lease');
      const failedChanges = (await h.storage.getChanges(1, 1000)).filter((ch) => ch.type === 'compute.task.failed');
      assert.equal(failedChanges.length, 2);
      assert.deepEqual(await core.compute.queue.readyRounds(), [{ jobId: job.id, round: 1 }]);
      // The next round has a deadline of its own, from its creation.
      const next = await core.compute.queue.advanceJob(job.id, 1, { nextRound: { inputs: { [a.client.id]: 1 } } });
      assert.equal(next.round, 2);
      clock.advance(29_000);
      assert.deepEqual(await sweep(), []);
      clock.advance(1_000);
      assert.deepEqual((await sweep()).map((r) => [r.round, r.clientIds]), [[2, [a.client.id]]]);
      const finished = await core.compute.queue.advanceJob(job.id, 2, { finish: { status: 'failed' } });
      const failures = (finished.error as { failures: Array<{ clientId: string; round: number; error: { code: string } }> }).failures;
      assert.deepEqual(failures.map((f) => [f.round, f.clientId, f.error.code]).sort(), [[1, b.client.id, 'TASK_DEADLINE_EXCEEDED'], [1, c.client.id, 'TASK_DEADLINE_EXCEEDED'], [2, a.client.id, 'TASK_DEADLINE_EXCEEDED']].sort());
      assert.deepEqual(await sweep(), [], 'a finished job has no deadline');
    });

    test('round deadline: a job no client ever leased (still queued) is closed and ready for its merge', async () => {
      const a = await joinClient(core, 'a');
      const { job } = await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 0 });
      clock.advance(10_000);
      assert.deepEqual((await core.compute.queue.sweepRounds(() => 10)).closed, [{ jobId: job.id, round: 1, clientIds: [a.client.id] }]);
      assert.equal((await h.storage.getComputeJob(job.id))!.status, 'queued');
      assert.deepEqual(await core.compute.queue.readyRounds(), [{ jobId: job.id, round: 1 }]);
      assert.equal((await core.compute.queue.advanceJob(job.id, 1, { finish: { status: 'failed' } })).status, 'failed');
    });

    test('a job\'s result blob: readable by nodes (replicas fetch it), not by users', async () => {
      const a = await joinClient(core, 'a');
      const { job } = await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 0 });
      const leased = (await core.compute.queue.leaseNextTask(a.client.id))!;
      await core.compute.queue.completeTask(a.client.id, leased.task.id, leased.leaseId, 1);
      const result = { sha256: 'a'.repeat(64), sha1: 'b'.repeat(40), size: 10 };
      const other = { sha256: 'c'.repeat(64), sha1: 'd'.repeat(40), size: 10 };
      await core.operator.recordBlob(SYSTEM, result, 'application/json');
      await core.operator.recordBlob(SYSTEM, other, 'application/json');
      await core.compute.queue.advanceJob(job.id, 1, { finish: { status: 'done', resultBlobSha256: result.sha256 } });
      assert.equal((await h.storage.getComputeJobByResultBlob(result.sha256))?.id, job.id);
      assert.equal(await h.storage.getComputeJobByResultBlob(other.sha256), null);
      const replica: Actor = { kind: 'node', nodeId: '01900000-0000-7000-8000-00000000abcd', asOwner: false };
      assert.equal(await core.operator.canReadBlob(replica, result.sha256), true);
      assert.equal(await core.operator.canReadBlob(replica, other.sha256), false);
      assert.equal(await core.operator.canReadBlob(alice, result.sha256), false);
    });

    test('a running task\'s lease is renewed by its holder: past the first expiry it stays the client\'s and its report is taken', async () => {
      const a = await joinClient(core, 'a');
      const b = await joinClient(core, 'b');
      await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 0, leaseSeconds: 10, maxAttempts: 3 });
      const leased = (await core.compute.queue.leaseNextTask(a.client.id))!;
      clock.advance(8000);
      const renewed = await core.compute.queue.renewLease(a.client.id, leased.task.id, leased.leaseId);
      assert.equal(renewed.leaseExpiresAt, leased.leaseExpiresAt + 8000, 'the lease length from now');
      await assert.rejects(core.compute.queue.renewLease(a.client.id, leased.task.id, 'not-the-lease'), isCode('LEASE_NOT_HELD'));
      await assert.rejects(core.compute.queue.renewLease(b.client.id, leased.task.id, leased.leaseId), isCode('LEASE_NOT_HELD'));
      await assert.rejects(core.compute.queue.renewLease(a.client.id, '6f1c1a52-3c1e-4a53-9a4e-0d0c2b7f6a11', leased.leaseId), isCode('TASK_NOT_FOUND'));
      clock.advance(5000); // past the first expiry, within the renewed one
      assert.equal(await core.compute.queue.leaseNextTask(a.client.id), null, 'still held: not leased again');
      const task = (await h.storage.getComputeTask(leased.task.id))!;
      assert.deepEqual([task.status, task.attempts, task.leaseId], ['leased', 1, leased.leaseId]);
      await core.compute.queue.completeTask(a.client.id, leased.task.id, leased.leaseId, 42);
      assert.equal((await h.storage.getComputeTask(leased.task.id))!.status, 'done');
      await assert.rejects(core.compute.queue.renewLease(a.client.id, leased.task.id, leased.leaseId), isCode('LEASE_NOT_HELD'), 'a finished task has no lease to renew');

      // A lease that ran out before its renewal is not brought back.
      await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 1, leaseSeconds: 10, maxAttempts: 3 });
      const late = (await core.compute.queue.leaseNextTask(a.client.id))!;
      clock.advance(10_000);
      await assert.rejects(core.compute.queue.renewLease(a.client.id, late.task.id, late.leaseId), isCode('LEASE_NOT_HELD'));
    });

    test('a lease that never reached its client is given back: leasable at once, the attempt not counted, the lease dead', async () => {
      const a = await joinClient(core, 'a');
      await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 0, leaseSeconds: 60, maxAttempts: 1 });
      const ghost = (await core.compute.queue.leaseNextTask(a.client.id))!;
      assert.equal(ghost.task.attempts, 1);
      assert.equal(await core.compute.queue.leaseNextTask(a.client.id), null, 'held');
      assert.equal(await core.compute.queue.returnLease(a.client.id, ghost.task.id, 'not-the-lease'), false);
      const b = await joinClient(core, 'b');
      assert.equal(await core.compute.queue.returnLease(b.client.id, ghost.task.id, ghost.leaseId), false, 'only its client gives a lease back');
      assert.equal(await core.compute.queue.returnLease(a.client.id, ghost.task.id, ghost.leaseId), true);
      assert.equal(await core.compute.queue.returnLease(a.client.id, ghost.task.id, ghost.leaseId), false, 'once');
      await assert.rejects(core.compute.queue.completeTask(a.client.id, ghost.task.id, ghost.leaseId, 1), isCode('LEASE_NOT_HELD'));
      // maxAttempts 1: had the returned lease counted, this lease would fail the task instead.
      const again = (await core.compute.queue.leaseNextTask(a.client.id))!;
      assert.equal(again.task.id, ghost.task.id);
      assert.equal(again.task.attempts, 1);
      assert.notEqual(again.leaseId, ghost.leaseId);
      await core.compute.queue.completeTask(a.client.id, again.task.id, again.leaseId, 1);
      assert.equal(await core.compute.queue.returnLease(a.client.id, again.task.id, again.leaseId), false, 'a finished task stays finished');
      assert.equal((await h.storage.getComputeTask(ghost.task.id))!.status, 'done');
    });

    test('long poll: waits, returns within milliseconds of a submit, and ends at its timeout or abort', async () => {
      const a = await joinClient(core, 'a');
      // The test clock stands still: the poll's wait is measured on the monotonic clock.
      const real = core;
      const started = performance.now();
      const polling = real.compute.queue.pollTask(a.client.id, { timeoutMs: 10_000 });
      await new Promise((r) => setTimeout(r, 50));
      const submittedAt = performance.now();
      await real.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 1 });
      const leased = await polling;
      const latency = performance.now() - submittedAt;
      assert.ok(leased, 'the poll got the task');
      assert.ok(latency < 2000, `the poll returned ${latency.toFixed(1)} ms after the submit`);
      assert.ok(performance.now() - started < 5000);

      const t0 = performance.now();
      assert.equal(await real.compute.queue.pollTask(a.client.id, { timeoutMs: 100 }), null);
      assert.ok(performance.now() - t0 >= 95);
      const ac = new AbortController();
      const aborted = real.compute.queue.pollTask(a.client.id, { timeoutMs: 10_000, signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      assert.equal(await aborted, null);
      assert.equal(await real.compute.queue.waitForTask(a.client.id, 50), false);
    });

    test('every compute change replicates to a second core; verify replays the log; digests agree', async () => {
      const a = await joinClient(core, 'a');
      const { job } = await core.compute.queue.submitJob(TOKEN, { plan: { op: 'sum' }, datasource: 'cohort', firstRoundInput: { x: [1, 2] } });
      const l = (await core.compute.queue.leaseNextTask(a.client.id))!;
      await core.compute.queue.completeTask(a.client.id, l.task.id, l.leaseId, { s: 3 });
      await core.compute.queue.advanceJob(job.id, 1, { nextRound: { inputs: { [a.client.id]: 2 } } });
      const l2 = (await core.compute.queue.leaseNextTask(a.client.id))!;
      await core.compute.queue.failTask(a.client.id, l2.task.id, l2.leaseId, { message: 'boom' });
      await core.compute.queue.advanceJob(job.id, 2, { finish: { status: 'failed' } });
      const types = new Set((await h.storage.getChanges(1, 1000)).map((c) => c.type));
      for (const t of COMPUTE_CHANGE_TYPES) assert.ok(types.has(t), `the log holds a ${t}`);

      const verdict = await verifyContent(h.storage, await memoryStorage());
      assert.ok(verdict.ok, JSON.stringify(verdict));
      assert.equal(verdict.digest.computeTasks?.count, 2);

      const h2 = await backend.create();
      const other = await openComputeCore(h2.storage, new TestClock(), 'replica');
      try {
        const changes = await h.storage.getChanges(1, 1000);
        await other.replication.importChunk(core.node.id, changes);
        // again: a no-op
        assert.equal((await other.replication.importChunk(core.node.id, changes)).imported, 0);
        const mine = await contentDigest(h.storage);
        const theirs = await contentDigest(h2.storage);
        // The replica created its own projects from its configuration: compare the origin's records.
        assert.deepEqual(theirs.computeJobs, mine.computeJobs);
        assert.deepEqual(theirs.computeTasks, mine.computeTasks);
        assert.deepEqual(theirs.computeClients, mine.computeClients);
        assert.equal((await h2.storage.getComputeJob(job.id))!.status, 'failed');
        // the replica holds the job but does not run it
        await assert.rejects(other.compute.queue.advanceJob(job.id, 2, { finish: { status: 'failed' } }), isCode('JOB_NOT_LOCAL'));
        assert.equal(await other.compute.queue.leaseNextTask(a.client.id), null);
        // project tokens are local: the replica's token hash for the origin's project stays unset
        const originStudy = (await core.compute.projects.list()).find((p) => p.name === 'study')!;
        assert.equal(await h2.storage.getComputeProjectTokenHash(originStudy.id), null);
        const verdict2 = await verifyContent(h2.storage, await memoryStorage());
        assert.ok(verdict2.ok, JSON.stringify(verdict2));
      } finally {
        await other.close();
        await h2.cleanup();
      }
    });

    test('apply refuses malformed or misplaced compute changes and knows no later payload version', async () => {
      const a = await joinClient(core, 'a');
      await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 1 });
      const changes = await h.storage.getChanges(1, 1000);
      const { applyChange } = await import('../../src/domain/apply.js');
      const scratch = await memoryStorage();
      try {
        const byType = (t: string) => changes.find((c) => c.type === t)!;
        const apply = (c: (typeof changes)[number]) => scratch.transaction((tx) => applyChange(tx, c));
        // a task before its job and client exist
        await assert.rejects(apply(byType('compute.task.created')), isCode('CHANGE_INVALID'));
        await assert.rejects(apply({ ...byType('compute.job.submitted'), payloadVersion: 2 }), isCode('CHANGE_UNSUPPORTED'));
        await assert.rejects(apply({ ...byType('compute.client.joined'), payload: { client: { ...(byType('compute.client.joined').payload.client as object), publicKey: 'short' } } }), isCode('CHANGE_INVALID'));
        await assert.rejects(apply({ ...byType('compute.client.joined'), payload: { client: { ...(byType('compute.client.joined').payload.client as object), secret: 'x' } } }), isCode('CHANGE_INVALID'));
        for (const c of changes) await apply(c);
        // applying everything again is a no-op
        for (const c of changes) await apply(c);
        const task = byType('compute.task.created').payload.task as Record<string, unknown>;
        await assert.rejects(apply({ ...byType('compute.task.created'), payload: { task: { ...task, status: 'done' } } }), isCode('CHANGE_INVALID'));
        await assert.rejects(apply({ ...byType('compute.task.created'), payload: { task: { ...task, input: { other: true } } } }), isCode('CHANGE_INVALID'));
        const job = byType('compute.job.submitted').payload.job as Record<string, unknown>;
        await assert.rejects(apply({ ...byType('compute.job.submitted'), type: 'compute.job.finished', payload: { job: { ...job, status: 'running' } } }), isCode('CHANGE_INVALID'));
        assert.ok(a);
      } finally {
        await scratch.close();
      }
    });

    test('apply refuses a task change from another origin than its job', async () => {
      const a = await joinClient(core, 'a');
      await core.compute.queue.submitJob(TOKEN, { plan: {}, datasource: 'cohort', firstRoundInput: 1 });
      const changes = await h.storage.getChanges(1, 1000);
      const h2 = await backend.create();
      const other = await openComputeCore(h2.storage, new TestClock(), 'replica');
      try {
        await other.replication.importChunk(core.node.id, changes);
        const created = changes.find((c) => c.type === 'compute.task.created')!;
        const task = { ...(created.payload.task as Record<string, unknown>), status: 'leased', updatedAt: 1_900_000_000_000 };
        const { applyChange } = await import('../../src/domain/apply.js');
        const forged = { ...created, originNodeId: other.node.id, type: 'compute.task.leased' as const, payload: { task } };
        await assert.rejects(h2.storage.transaction((tx) => applyChange(tx, forged)), isCode('CHANGE_INVALID'));
        assert.ok(a);
      } finally {
        await other.close();
        await h2.cleanup();
      }
    });
  });
}
