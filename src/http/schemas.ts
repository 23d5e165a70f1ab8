import { z } from 'zod';
import { CHANGE_TYPES, NODE_DATA_ROLES, NODE_WRITE_ACCESS } from '../model/content.js';
import { LIMITS } from '../domain/validation.js';
import { ERROR_CODES, type ErrorCode } from '../errors.js';

/**
 * The zod schemas of the HTTP API: every route validates its input with them and describes its
 * responses with them, and @fastify/swagger turns them into the OpenAPI document. Named schemas
 * live in a private registry (not zod's global one) so nothing else in the process can collide
 * with their component names.
 */
export const apiSchemas = z.registry<{ id?: string; description?: string; [key: string]: unknown }>();

/** Ids are UUIDs (the node makes UUIDv7); any 8-4-4-4-12 hex form is accepted, the lookup decides. */
export const uuid = z.guid();
const timeMs = z.number().int().describe('Milliseconds since the Unix epoch (UTC)');

export const channelSchema = z
  .object({
    id: uuid,
    name: z.string().describe('`namespace:name`, or a name without `:` in the default namespace. The name on this node: REST and realtime address the channel by it'),
    originName: z
      .string()
      .optional()
      .describe('The name the channel replicates under, present only when this node knows it by another `name` (an imported channel whose name was taken here; see docs/network.md, Channel names)'),
    namespace: z.string(),
    description: z.string(),
    originNodeId: uuid,
    createdAt: timeMs,
    updatedAt: timeMs,
    lastSeq: z.number().int().describe('Seq of the last post created in the channel (0 when none)'),
  })
  .register(apiSchemas, { id: 'Channel' });

export const postSchema = z
  .object({
    id: uuid,
    channelId: uuid,
    seq: z.number().int().describe('Position in the channel: 1, 2, 3… without gaps'),
    author: z.string().describe('`owner`, `user:<id>` or `node:<id>`'),
    body: z.string(),
    meta: z.record(z.string(), z.unknown()),
    blobRefs: z.array(z.string()),
    originNodeId: uuid,
    createdAt: timeMs,
    updatedAt: timeMs,
    edited: z.boolean(),
    deleted: z.boolean().describe('A deleted post is a tombstone: body, meta and blobRefs are cleared'),
  })
  .register(apiSchemas, { id: 'Post' });

export const linkSchema = z
  .object({
    id: uuid,
    fromPostId: uuid,
    toPostId: uuid,
    label: z.string(),
    originNodeId: uuid,
    createdAt: timeMs,
  })
  .register(apiSchemas, { id: 'Link' });

export const changeSchema = z
  .object({
    serial: z.number().int().describe('Local serial: gapless from 1'),
    originNodeId: uuid,
    originSerial: z.number().int(),
    type: z.enum(CHANGE_TYPES),
    payloadVersion: z.number().int(),
    payload: z.record(z.string(), z.unknown()),
    createdAt: timeMs,
    prevHash: z.string().describe('Hash of the previous change (64 zeros for serial 1)'),
    hash: z.string().describe('sha256(prevHash ‖ canonical JSON of the change without hashes), hex'),
  })
  .register(apiSchemas, { id: 'Change' });

export const clientNodeSchema = z
  .object({
    id: uuid,
    asOwner: z.boolean().describe('Has the owner\'s rights on this node'),
    role: z.enum(NODE_DATA_ROLES).describe('`child` pulls from this node, `parent` is pulled by it, `both` does either'),
    writeAccess: z.enum(NODE_WRITE_ACCESS).describe('Whether writes the node forwards here are accepted'),
    channels: z.array(z.string()).describe('Channel names and `namespace:*` patterns it may pull and write; empty means every channel'),
    createdAt: timeMs,
    updatedAt: timeMs,
  })
  .register(apiSchemas, { id: 'ClientNode', description: 'A node allowed to connect to this one; its password hash is never shown' });

export const actorSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('owner') }),
    z.object({ kind: z.literal('node'), nodeId: z.string(), asOwner: z.boolean() }),
    z.object({ kind: z.literal('user'), userId: z.string() }),
    z.object({ kind: z.literal('system') }),
  ])
  .register(apiSchemas, { id: 'Actor' });

export const errorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .register(apiSchemas, { id: 'Error', description: 'Every error reply; `code` is one of docs/errors.md' });

/** `{ items, nextCursor }`: pass nextCursor back as `cursor`; null means there is no more. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

const PAGE_SIZE_RULE = `must be an integer from 1 to ${LIMITS.pageSize.max}`;

export const pageQuery = z.object({
  cursor: z.string().min(1).max(1024).optional().describe('nextCursor of the previous page'),
  limit: z.coerce
    .number({ error: PAGE_SIZE_RULE })
    .int({ error: PAGE_SIZE_RULE })
    .min(1, { error: PAGE_SIZE_RULE })
    .max(LIMITS.pageSize.max, { error: PAGE_SIZE_RULE })
    .optional()
    .describe(`Items per page (default ${LIMITS.pageSize.default})`),
});

/** A response with no body (204). */
export const noContent = z.null().describe('No content');

/** Either kind of owner credential; a route with `security: PUBLIC` needs none. */
export const SECURED: Array<Record<string, string[]>> = [{ bearerAuth: [] }, { cookieAuth: [] }];
export const PUBLIC: Array<Record<string, string[]>> = [];

/**
 * A route's response map: its success schemas plus the shared error body under each error
 * status it can answer with, so the OpenAPI document lists them.
 */
export function withErrors<T extends Record<number, z.ZodType>, E extends number>(
  ok: T,
  errors: readonly E[],
): T & { [K in E]: typeof errorSchema } {
  const out: Record<number, z.ZodType> = { ...ok };
  for (const status of errors) out[status] = errorSchema;
  return out as T & { [K in E]: typeof errorSchema };
}

/** Statuses every authenticated route may answer with. */
export const AUTH_ERRORS = [400, 401, 403, 500, 503] as const;
