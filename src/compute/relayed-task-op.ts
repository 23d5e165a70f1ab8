/**
 * The origin's side of a compute client's operation relayed by a node that holds a replica of
 * the job (docs/compute-queue.md "Replication"; the relaying side is ComputeQueue's). The op
 * carries the client's signed request as it arrived there; this node checks the signature
 * itself, against the client's registered key and its own nonce window, and takes the
 * operation from the signed bytes (path and body), so the relaying node can neither act as the
 * client nor change what it reported. A lease (or its return) is signed by the client's poll,
 * which names no task: its nonce is admitted once per task here, so one poll leases a given
 * task at most once. The op runs through the compute service as the client's own request would
 * (a completed round is merged here at once); on a job of yet another node it goes on there.
 */
import type { ComputeClients } from '../domain/compute-clients.js';
import { parseComputeTaskOp, type ComputeTaskAction, type ForwardResult } from '../domain/forwarded-writes.js';
import { MycelError } from '../errors.js';
import type { z } from 'zod';
import { leaseRenewalBody, taskFailureBody, taskResultBody } from './client-requests.js';
import type { ComputeService } from './compute-service.js';

/** The route a client signs for each action. */
const SIGNED_PATH: Record<ComputeTaskAction, (taskId: string) => string> = {
  lease: () => '/api/v1/compute/poll',
  return: () => '/api/v1/compute/poll',
  renew: (taskId) => `/api/v1/compute/tasks/${taskId}/lease`,
  complete: (taskId) => `/api/v1/compute/tasks/${taskId}/result`,
  fail: (taskId) => `/api/v1/compute/tasks/${taskId}/failure`,
};

function signedBody<T>(schema: z.ZodType<T>, text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MycelError('BAD_JSON', { reason: 'the relayed request body is not JSON' });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new MycelError('VALIDATION_FAILED', { field: issue?.path.join('.') || 'body', reason: issue?.message ?? 'invalid' });
  }
  return parsed.data;
}

/** Runs a relayed compute op here (COMPUTE_NOT_ENABLED without the compute service; SIGNATURE_* as the client's own request). */
export async function runRelayedTaskOp(service: ComputeService | undefined, clients: ComputeClients, raw: unknown): Promise<ForwardResult> {
  const op = parseComputeTaskOp(raw);
  if (!service) throw new MycelError('COMPUTE_NOT_ENABLED', { reason: 'a compute operation was relayed to a node that does not run federated compute' });
  const { request, taskId } = op;
  // What was signed must be this operation; checked first, so a mismatch spends no nonce.
  const path = request.path.split('?')[0];
  if (request.method.toUpperCase() !== 'POST' || path !== SIGNED_PATH[op.action](taskId)) {
    throw new MycelError('SIGNATURE_INVALID', { reason: `the signed request (${request.method} ${path}) is not a ${op.action} of task ${taskId}` });
  }
  const perTask = op.action === 'lease' || op.action === 'return';
  const client = await clients.authenticate(request, perTask ? `${op.action}:${taskId}` : undefined);
  switch (op.action) {
    case 'lease': {
      const leased = await service.leaseTask(client.id, taskId, request);
      return { change: leased.change, entity: { id: taskId, status: 'leased', leaseId: leased.leaseId, leaseExpiresAt: leased.leaseExpiresAt } };
    }
    case 'return': {
      if (op.leaseId === undefined) throw new MycelError('VALIDATION_FAILED', { field: 'op.leaseId', reason: 'a return names the lease' });
      const change = await service.returnLease(client.id, taskId, op.leaseId, request);
      return change ? { change, entity: { id: taskId } } : { change: null, entity: null };
    }
    case 'renew': {
      const { leaseId } = signedBody(leaseRenewalBody, request.body);
      const renewed = await service.renewLease(client.id, taskId, leaseId, request);
      return { change: renewed.change, entity: { id: taskId, leaseExpiresAt: renewed.leaseExpiresAt } };
    }
    case 'complete': {
      const { leaseId, output } = signedBody(taskResultBody, request.body);
      const outcome = await service.completeTask(client.id, taskId, leaseId, output, request);
      return { change: outcome.change, entity: { id: taskId, status: outcome.task.status, roundComplete: outcome.roundComplete } };
    }
    case 'fail': {
      const { leaseId, error } = signedBody(taskFailureBody, request.body);
      const outcome = await service.failTask(client.id, taskId, leaseId, error, request);
      return { change: outcome.change, entity: { id: taskId, status: outcome.task.status, roundComplete: outcome.roundComplete } };
    }
  }
}
