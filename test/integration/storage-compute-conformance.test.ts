// The compute part of the storage contract (src/storage/storage.ts, migration 007) on SQLite and
// PostgreSQL alike: inserts that report an existing id, the local token hash, the conditional
// use of an invitation, the lease query (oldest queued or expired task of a client), JSON
// values kept as given, and the digest's scans in id order.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { newId } from '../../src/lib/ids.js';
import type { ComputeClient, ComputeJob, ComputeProject, ComputeTask } from '../../src/model/compute.js';
import type { Storage } from '../../src/storage/storage.js';
import { storageBackends, type StorageHandle } from '../helpers/storage.js';

const T0 = 1_700_000_000_000;
const ORIGIN = newId();

function project(name: string): ComputeProject {
  return { id: newId(), name, smallCellK: 10, originNodeId: ORIGIN, createdAt: T0 };
}

function client(name: string): ComputeClient {
  return { id: newId(), name, publicKey: Buffer.alloc(32, name.length).toString('base64url'), datasources: [{ name: 'cohort', type: 'csv', projects: ['p'] }], joinedAt: T0, originNodeId: ORIGIN, lastSeenAt: null };
}

function job(projectId: string): ComputeJob {
  return {
    id: newId(),
    projectId,
    datasource: 'cohort',
    plan: { op: 'count', where: [{ a: 1 }], none: null, text: 'é ✓' },
    status: 'queued',
    round: 1,
    maxAttempts: 3,
    leaseSeconds: 60,
    submittedBy: 'project:p',
    originNodeId: ORIGIN,
    createdAt: T0,
    updatedAt: T0,
    result: null,
    resultBlobSha256: null,
    error: null,
  };
}

function task(jobId: string, clientId: string, createdAt: number, over: Partial<ComputeTask> = {}): ComputeTask {
  return { id: newId(), jobId, round: 1, clientId, datasource: 'cohort', input: { n: createdAt }, status: 'queued', leaseId: null, leaseExpiresAt: null, attempts: 0, output: null, error: null, createdAt, updatedAt: createdAt, ...over };
}

for (const backend of storageBackends) {
  describe(`storage conformance, compute: ${backend.name}`, () => {
    let h: StorageHandle;
    let s: Storage;
    beforeEach(async () => {
      h = await backend.create();
      s = h.storage;
    });
    afterEach(() => h.cleanup());

    it('projects: insert once, look up by name within its origin and by the local token hash', async () => {
      const p = project('p');
      assert.equal(await s.transaction((tx) => tx.insertComputeProject(p, 'a'.repeat(64))), true);
      assert.equal(await s.transaction((tx) => tx.insertComputeProject(p, null)), false);
      assert.deepEqual(await s.getComputeProjectByName(ORIGIN, 'p'), p);
      assert.equal(await s.getComputeProjectByName(newId(), 'p'), null);
      assert.deepEqual(await s.getComputeProjectByTokenHash('a'.repeat(64)), p);
      await s.transaction((tx) => tx.setComputeProjectTokenHash(p.id, null));
      assert.equal(await s.getComputeProjectByTokenHash('a'.repeat(64)), null);
      assert.equal(await s.getComputeProjectTokenHash(p.id), null);
      // the same name on another origin is another project
      const theirs = { ...project('p'), originNodeId: newId() };
      assert.equal(await s.transaction((tx) => tx.insertComputeProject(theirs, null)), true);
      assert.equal((await s.listComputeProjects()).length, 2);
    });

    it('an invitation is used once, and not after it expires', async () => {
      const inv = { id: newId(), secretHash: 'b'.repeat(64), createdBy: 'owner', createdAt: T0, expiresAt: T0 + 1000, usedAt: null, usedBy: null };
      await s.transaction((tx) => tx.insertComputeInvitation(inv));
      const late = { ...inv, id: newId(), secretHash: 'c'.repeat(64) };
      await s.transaction((tx) => tx.insertComputeInvitation(late));
      assert.equal(await s.transaction((tx) => tx.useComputeInvitation(late.id, 'x', T0 + 1000)), false, 'expired at expiresAt');
      assert.equal(await s.transaction((tx) => tx.useComputeInvitation(inv.id, 'x', T0 + 999)), true);
      assert.equal(await s.transaction((tx) => tx.useComputeInvitation(inv.id, 'y', T0 + 999)), false);
      assert.deepEqual(await s.getComputeInvitationBySecretHash(inv.secretHash), { ...inv, usedAt: T0 + 999, usedBy: 'x' });
    });

    it('the lease query: a client’s oldest queued or expired task, nothing else', async () => {
      const p = project('p');
      const a = client('a');
      const b = client('bb');
      const j = job(p.id);
      await s.transaction(async (tx) => {
        await tx.insertComputeProject(p, null);
        assert.equal(await tx.insertComputeClient(a), true);
        assert.equal(await tx.insertComputeClient(a), false);
        await tx.insertComputeClient(b);
        assert.equal(await tx.insertComputeJob(j), true);
        assert.equal(await tx.insertComputeJob(j), false);
      });
      const j2 = { ...job(p.id) };
      await s.transaction((tx) => tx.insertComputeJob(j2));
      const live = task(j.id, a.id, T0 + 1, { status: 'leased', leaseId: newId(), leaseExpiresAt: T0 + 500, attempts: 1 });
      const done = task(j2.id, a.id, T0 + 2, { status: 'done', output: { s: 1 } });
      const expired = task(j2.id, a.id, T0 + 3, { round: 2, status: 'leased', leaseId: newId(), leaseExpiresAt: T0 + 100, attempts: 1 });
      const queued = task(j.id, a.id, T0 + 4, { round: 2 });
      const others = task(j.id, b.id, T0 + 0);
      await s.transaction(async (tx) => {
        for (const t of [live, done, expired, queued, others]) assert.equal(await tx.insertComputeTask(t), true);
      });
      assert.equal((await s.findLeasableComputeTask(a.id, T0 + 99))!.id, queued.id, 'the expired lease is not expired yet');
      assert.equal((await s.findLeasableComputeTask(a.id, T0 + 100))!.id, expired.id, 'oldest first once expired');
      assert.equal((await s.transaction((tx) => tx.claimComputeTask(a.id, T0 + 600)))!.id, live.id, 'every lease expired: the oldest');
      assert.equal(await s.nextComputeLeaseExpiry(a.id), T0 + 100);
      assert.equal(await s.nextComputeLeaseExpiry(newId()), null);
      assert.equal((await s.findLeasableComputeTask(b.id, T0))!.id, others.id);
      // updates keep JSON values as given; the rest never changes
      const finished = { ...expired, status: 'failed' as const, error: { code: 'X', detail: [1, 'two', null] }, leaseExpiresAt: null, updatedAt: T0 + 7 };
      await s.transaction((tx) => tx.updateComputeTask(finished));
      assert.deepEqual(await s.getComputeTask(expired.id), finished);
      const j2done = { ...j2, status: 'done' as const, updatedAt: T0 + 8, result: { mean: 1.5, rows: [[1, 2]] }, resultBlobSha256: 'd'.repeat(64), error: null };
      await s.transaction((tx) => tx.updateComputeJob(j2done));
      assert.deepEqual(await s.getComputeJob(j2.id), j2done);
      assert.deepEqual(await s.getComputeJob(j.id), j);
      assert.deepEqual((await s.listComputeTasks(j.id)).map((t) => t.id), [others.id, live.id, queued.id]);
      assert.deepEqual((await s.listComputeJobsWithStatus('done', 10)).map((x) => x.id), [j2.id]);
      assert.deepEqual((await s.listComputeJobs(p.id, { limit: 1 })).length, 1);
      // scans walk ids ascending
      const ids = (await s.scanComputeTasks(null, 100)).map((t) => t.id);
      assert.deepEqual(ids, [...ids].sort());
      assert.equal((await s.scanComputeTasks(ids[2]!, 100)).length, 2);
      await s.transaction((tx) => tx.touchComputeClient(a.id, T0 + 9));
      assert.equal((await s.getComputeClient(a.id))!.lastSeenAt, T0 + 9);
      assert.deepEqual((await s.getComputeClientByPublicKey(b.publicKey))!.id, b.id);
    });
  });
}
