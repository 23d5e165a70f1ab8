import { z } from 'zod';
import { MycelError } from '../errors.js';
import type { Channel, Post } from '../model/content.js';
import type { Actor } from './actor.js';

/*
 * Forwarded writes: single writer per entity. A channel (and its posts' creation) belongs to
 * the node where it was created, its origin; a post's edits and deletion belong to the post's
 * origin. A node that is asked to write an entity whose origin is another node does not write
 * it itself: the Operator hands the operation to `RemoteWrites` (the network layer), which
 * commits it at the origin over a link and resolves once the resulting change has been
 * imported back here. At the origin the operation arrives as a `ForwardedOp` from a client
 * node and runs through `Operator.executeForwarded`, authorised by that node's registration.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const id = z.string().regex(UUID, 'must be a UUID');
// Sizes and shapes are checked again by the Operator's own validation at the origin; these
// bounds only stop a message from carrying something absurd into it.
const meta = z.record(z.string(), z.unknown());

/** Version of the ForwardedOp shape; a node refuses an op of a version it does not know. */
export const FORWARDED_OP_VERSION = 1;

const forwardedOpSchema = z.discriminatedUnion('type', [
  z.strictObject({
    v: z.literal(FORWARDED_OP_VERSION),
    type: z.literal('post.create'),
    channelId: id,
    body: z.string(),
    meta,
    blobRefs: z.array(z.string()),
    idempotencyKey: z.string().optional(),
  }),
  z.strictObject({ v: z.literal(FORWARDED_OP_VERSION), type: z.literal('post.edit'), postId: id, body: z.string().optional(), meta: meta.optional() }),
  z.strictObject({ v: z.literal(FORWARDED_OP_VERSION), type: z.literal('post.delete'), postId: id }),
  z.strictObject({ v: z.literal(FORWARDED_OP_VERSION), type: z.literal('channel.update'), channelId: id, description: z.string().optional() }),
  z.strictObject({ v: z.literal(FORWARDED_OP_VERSION), type: z.literal('channel.delete'), channelId: id }),
]);

/** A write to run at the origin node of its entity (by id: ids are the same on every node). */
export type ForwardedOp = z.infer<typeof forwardedOpSchema>;

/** Checks an op that arrived from another node; VALIDATION_FAILED (field `op`) names the first problem. */
export function parseForwardedOp(value: unknown): ForwardedOp {
  return parseWith(forwardedOpSchema, value);
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue ? ['op', ...issue.path.map(String)].join('.') : 'op';
  const reason = issue?.message ?? 'not a forwarded write';
  throw new MycelError('VALIDATION_FAILED', { field: 'op', path, reason }, `${path}: ${reason}`);
}

/** A change by its origin: the same pair on every node that holds it. */
export interface ChangeRef {
  originNodeId: string;
  originSerial: number;
}

/**
 * An operation of a compute client on a task of a job whose origin is another node (lease,
 * return of a lease never delivered, renewal, result, failure; docs/compute-queue.md
 * "Replication"). It carries the client's signed HTTP request as it arrived (its signature
 * headers only), so the origin checks the client's own signature over the exact bytes and
 * reads the operation from them: a node that relays it cannot act as the client or change
 * what it said. `taskId` and `leaseId` of a lease or its return are the relaying node's choice
 * (the signed request is the client's poll); the origin leases only a task of that client.
 */
export const COMPUTE_TASK_ACTIONS = ['lease', 'return', 'renew', 'complete', 'fail'] as const;
export type ComputeTaskAction = (typeof COMPUTE_TASK_ACTIONS)[number];

/** The largest signed body relayed: a task's output or error is bounded at 1 MiB of JSON, its envelope a little more. */
export const MAX_RELAYED_BODY_CHARS = 2 * 1024 * 1024;

const computeTaskOpSchema = z.strictObject({
  v: z.literal(FORWARDED_OP_VERSION),
  type: z.literal('compute.task'),
  action: z.enum(COMPUTE_TASK_ACTIONS),
  taskId: id,
  leaseId: z.string().min(1).max(64).optional(),
  request: z.strictObject({
    method: z.string().min(1).max(16),
    path: z.string().min(1).max(2048),
    body: z.string().max(MAX_RELAYED_BODY_CHARS),
    headers: z.record(z.string().max(64), z.string().max(1024)).refine((h) => Object.keys(h).length <= 8, 'at most 8 headers'),
  }),
});

export type ComputeTaskOp = z.infer<typeof computeTaskOpSchema>;

/** Whether a forwarded op is a compute client's (it runs in the compute service, not the Operator). */
export function isComputeTaskOp(value: unknown): boolean {
  return value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'compute.task';
}

/** Checks a compute op that arrived from another node; VALIDATION_FAILED (field `op`) names the first problem. */
export function parseComputeTaskOp(value: unknown): ComputeTaskOp {
  return parseWith(computeTaskOpSchema, value);
}

/** What a compute op left at the origin: the task's id and what the client is answered. */
export interface ComputeTaskAnswer {
  id: string;
  status?: string;
  roundComplete?: boolean;
  leaseId?: string;
  leaseExpiresAt?: number;
}

/** What an op committed at its origin. */
export interface ForwardResult {
  /**
   * The change that carried the op (its last, for an op that appended several). Null when the
   * op wrote nothing new (a repeated idempotency key): then the entity's creation is what the
   * caller waits for.
   */
  change: ChangeRef | null;
  /** The post or channel as the origin left it (a compute op: the task's answer); null after a channel's deletion. */
  entity: Post | Channel | ComputeTaskAnswer | null;
}

const forwardResultSchema = z.object({
  change: z.strictObject({ originNodeId: id, originSerial: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }).nullable(),
  // The caller reads its own copy after the import; of the origin's it needs only the id.
  entity: z.looseObject({ id }).nullable(),
});

/** Checks a result that arrived from another node; VALIDATION_FAILED when it is not one. */
export function parseForwardResult(value: unknown): ForwardResult {
  const parsed = forwardResultSchema.safeParse(value);
  if (!parsed.success) throw new MycelError('VALIDATION_FAILED', { field: 'result', reason: parsed.error.issues[0]?.message ?? 'not a forward result' }, 'the origin node answered a forwarded write with something that is not a result');
  return parsed.data as unknown as ForwardResult;
}

/**
 * The network's side of forwarded writes, as the Operator sees it (src/network/forwarding.ts
 * implements it). `forward` commits `op` at `originNodeId` (over a link to it, or to a parent
 * that forwards it on) and resolves once the resulting change has been imported here, so the
 * caller can read its own copy of the entity. It rejects with NOT_CONNECTED_TO_ORIGIN (no
 * link), FORWARD_TIMEOUT, FORWARD_QUEUE_FULL, or the origin's own refusal (its code).
 * `actor` is who asked here; the origin sees this node as the actor.
 */
export interface RemoteWrites {
  forward(originNodeId: string, op: ForwardedOp | ComputeTaskOp, actor: Actor): Promise<ForwardResult>;
}
