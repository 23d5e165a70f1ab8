// The origin's side of compute operations relayed by a replica (src/compute/relayed-task-op.ts):
// the client's signed request is checked here, against the client's key and this node's nonce
// window, and the operation is read from the signed bytes. A relaying node that alters the body,
// reuses a report's signature for another task or action, replays a poll for the same task, or
// leases another client's task is refused with the code the client's own request would get; the
// genuine relays lease, renew, complete (the round merges here at once) and fail.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ComputeService } from '../../src/compute/compute-service.js';
import { runRelayedTaskOp } from '../../src/compute/relayed-task-op.js';
import type { ComputeTaskAction, ComputeTaskOp } from '../../src/domain/forwarded-writes.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { isMycelError } from '../../src/errors.js';
import { signatureHeaders, signRequest } from '../../src/lib/signed-request.js';
import { createStorage } from '../../src/storage/index.js';
import { joinClient, openComputeCore, PROJECTS, type JoinedClient } from '../helpers/compute-queue.js';
import { silentLog } from '../helpers/core.js';

const TOKEN = PROJECTS[0].token;
const PLAN = { version: 1, datasource: 'cohort', kind: 'statistics', operations: [{ op: 'count' }] };

const isCode = (code: string) => (err: unknown) => isMycelError(err) && err.code === code;

/** A client's request as it arrives at a node: signed over its exact bytes. */
function signed(client: JoinedClient, path: string, body: string): ComputeTaskOp['request'] {
  const values = signRequest(client.keys.privateKey, { method: 'POST', path, body, clientId: client.client.id }, Date.now());
  return { method: 'POST', path, body, headers: signatureHeaders(values) };
}

function op(action: ComputeTaskAction, taskId: string, request: ComputeTaskOp['request'], leaseId?: string): ComputeTaskOp {
  return { v: 1, type: 'compute.task', action, taskId, ...(leaseId ? { leaseId } : {}), request };
}

describe('compute operations relayed to the job origin', () => {
  let core: NodeCore;
  let service: ComputeService;
  let a: JoinedClient;
  let b: JoinedClient;

  before(async () => {
    const storage = createStorage({ url: ':memory:', dataDir: '' });
    await storage.migrate();
    core = await openComputeCore(storage);
    service = new ComputeService({ queue: core.compute.queue, projects: core.compute.projects, storage: core.storage, log: silentLog });
    a = await joinClient(core, 'a');
    b = await joinClient(core, 'b');
  });
  after(async () => {
    service.close();
    await core.close();
  });

  const relay = (o: unknown) => runRelayedTaskOp(service, core.compute.clients, o);
  const taskOf = async (jobId: string, client: JoinedClient) => (await core.storage.listComputeTasks(jobId)).find((t) => t.clientId === client.client.id)!;

  test('lease, renew and complete as relayed: each answers the change that recorded it; the round merges here', async () => {
    const job = await service.submit(TOKEN, PLAN);
    const task = await taskOf(job.id, a);
    const poll = signed(a, '/api/v1/compute/poll', '{}');
    const leased = await relay(op('lease', task.id, poll));
    const answer = leased.entity as { leaseId: string; leaseExpiresAt: number };
    assert.equal(leased.change?.originNodeId, core.node.id);
    assert.ok(await core.storage.hasOriginChange(core.node.id, leased.change!.originSerial));
    const stored = (await core.storage.getComputeTask(task.id))!;
    assert.deepEqual([stored.status, stored.leaseId, stored.leaseExpiresAt, stored.attempts], ['leased', answer.leaseId, answer.leaseExpiresAt, 1]);
    // The same poll does not lease the same task twice (a relaying node replaying it).
    await assert.rejects(relay(op('lease', task.id, poll)), isCode('SIGNATURE_REPLAYED'));

    const renewPath = `/api/v1/compute/tasks/${task.id}/lease`;
    const renewed = await relay(op('renew', task.id, signed(a, renewPath, JSON.stringify({ leaseId: answer.leaseId }))));
    assert.ok((renewed.entity as { leaseExpiresAt: number }).leaseExpiresAt >= answer.leaseExpiresAt);
    assert.ok(renewed.change!.originSerial > leased.change!.originSerial);

    const result = signed(a, `/api/v1/compute/tasks/${task.id}/result`, JSON.stringify({ leaseId: answer.leaseId, output: { not: 'a statistics output' } }));
    const done = await relay(op('complete', task.id, result));
    assert.deepEqual(done.entity, { id: task.id, status: 'done', roundComplete: false }, 'b has not answered yet');

    const other = await taskOf(job.id, b);
    const bLease = (await relay(op('lease', other.id, signed(b, '/api/v1/compute/poll', '{}')))).entity as { leaseId: string };
    const failed = await relay(op('fail', other.id, signed(b, `/api/v1/compute/tasks/${other.id}/failure`, JSON.stringify({ leaseId: bLease.leaseId, error: { code: 'DATASOURCE_UNREADABLE', message: 'ragged' } }))));
    assert.deepEqual(failed.entity, { id: other.id, status: 'failed', roundComplete: true });
    // Merged here at once (a's output is no statistics output: the merge fails the job).
    const finished = (await core.storage.getComputeJob(job.id))!;
    assert.equal(finished.status, 'failed');
  });

  test('what a relaying node may not do: alter the body, reuse a signature for another task or action, lease another client\'s task', async () => {
    const job = await service.submit(TOKEN, PLAN);
    const task = await taskOf(job.id, a);
    const other = await taskOf(job.id, b);
    const lease = (await relay(op('lease', task.id, signed(a, '/api/v1/compute/poll', '{}')))).entity as { leaseId: string };

    const path = `/api/v1/compute/tasks/${task.id}/result`;
    const genuine = signed(a, path, JSON.stringify({ leaseId: lease.leaseId, output: { n: 1 } }));
    await assert.rejects(relay(op('complete', task.id, { ...genuine, body: JSON.stringify({ leaseId: lease.leaseId, output: { n: 2 } }) })), isCode('SIGNATURE_INVALID'));
    // The result signed for this task, relayed as a failure, or for another task: not what the client signed.
    await assert.rejects(relay(op('fail', task.id, genuine)), isCode('SIGNATURE_INVALID'));
    await assert.rejects(relay(op('complete', other.id, genuine)), isCode('SIGNATURE_INVALID'));
    // a's poll leasing b's task, a poll relayed as a renewal.
    await assert.rejects(relay(op('lease', other.id, signed(a, '/api/v1/compute/poll', '{}'))), isCode('TASK_NOT_LEASABLE'));
    await assert.rejects(relay(op('renew', task.id, signed(a, '/api/v1/compute/poll', JSON.stringify({ leaseId: lease.leaseId })))), isCode('SIGNATURE_INVALID'));
    // A leased task is not leased again; a second report on one lease is refused as at the route.
    await assert.rejects(relay(op('lease', task.id, signed(a, '/api/v1/compute/poll', '{}'))), isCode('TASK_NOT_LEASABLE'));
    await relay(op('complete', task.id, genuine));
    await assert.rejects(relay(op('complete', task.id, signed(a, path, JSON.stringify({ leaseId: lease.leaseId, output: { n: 1 } })))), isCode('LEASE_NOT_HELD'));
    // Not an op at all, and a node without the compute service.
    await assert.rejects(relay({ v: 1, type: 'compute.task', action: 'steal', taskId: task.id, request: genuine }), isCode('VALIDATION_FAILED'));
    await assert.rejects(runRelayedTaskOp(undefined, core.compute.clients, op('complete', task.id, genuine)), isCode('COMPUTE_NOT_ENABLED'));
  });

  test('a lease never delivered is given back through the same poll signature, once', async () => {
    const job = await service.submit(TOKEN, PLAN);
    const task = await taskOf(job.id, a);
    const poll = signed(a, '/api/v1/compute/poll', '{}');
    const { leaseId } = (await relay(op('lease', task.id, poll))).entity as { leaseId: string };
    const back = await relay(op('return', task.id, poll, leaseId));
    assert.ok(back.change);
    const stored = (await core.storage.getComputeTask(task.id))!;
    assert.equal(stored.attempts, 0, 'the attempt does not count');
    await assert.rejects(relay(op('return', task.id, poll, leaseId)), isCode('SIGNATURE_REPLAYED'));
    // A fresh poll leases it again; returning a lease that is not the current one changes nothing.
    const again = (await relay(op('lease', task.id, signed(a, '/api/v1/compute/poll', '{}')))).entity as { leaseId: string };
    assert.notEqual(again.leaseId, leaseId);
    assert.deepEqual(await relay(op('return', task.id, signed(a, '/api/v1/compute/poll', '{}'), leaseId)), { change: null, entity: null });
  });
});
