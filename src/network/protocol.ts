/**
 * The node link protocol: JSON messages, each an object with `t`, the same over WebSocket and
 * SSE + HTTP (docs/network.md). Every message that arrives is parsed here with its size bound
 * and its schema, so the rest of network/ works on typed messages only.
 */
import { z } from 'zod';
import { MycelError } from '../errors.js';
import type { Change } from '../model/content.js';

/** The protocol version a `hello` carries; another one is refused (BAD_MESSAGE). */
export const PROTOCOL_VERSION = 1;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const serial = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * A change as it travels: every field of the sender's log entry, and nothing else. The type is
 * any string (not the known types): an unknown type or payload version is the importer's
 * CHANGE_UNSUPPORTED, reported as such, not a malformed message.
 *
 * Checked by hand rather than with a schema: a `changes` message carries up to thousands of
 * changes on the catch-up path, and a schema library copies every change and payload it
 * checks (5 % of a child's CPU and much of its garbage in the replication benchmark's profile).
 * This checks the same rules in place, and the message goes on as JSON.parse made it.
 */
const WIRE_CHANGE_KEYS = ['serial', 'originNodeId', 'originSerial', 'type', 'payloadVersion', 'payload', 'createdAt', 'prevHash', 'hash'] as const;
const HEX64 = /^[0-9a-f]{64}$/;

const isInt = (v: unknown, min: number, max: number): boolean => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const isString = (v: unknown, min: number, max: number): boolean => typeof v === 'string' && v.length >= min && v.length <= max;
const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The first field of `c` that is not a wire change's, as [path, problem]; null when it is one. */
function wireChangeProblem(c: unknown): [string, string] | null {
  if (!isRecord(c)) return ['', 'not an object'];
  let keys = 0;
  for (const key in c) {
    if (!Object.hasOwn(c, key)) continue;
    if (!(WIRE_CHANGE_KEYS as readonly string[]).includes(key)) return [key, 'unrecognized key'];
    keys++;
  }
  const bad =
    !isInt(c.serial, 1, Number.MAX_SAFE_INTEGER) ? 'serial'
    : !isString(c.originNodeId, 1, 64) ? 'originNodeId'
    : !isInt(c.originSerial, 1, Number.MAX_SAFE_INTEGER) ? 'originSerial'
    : !isString(c.type, 1, 64) ? 'type'
    : !isInt(c.payloadVersion, 0, 1_000_000) ? 'payloadVersion'
    : !isRecord(c.payload) ? 'payload'
    : !isInt(c.createdAt, 0, Number.MAX_SAFE_INTEGER) ? 'createdAt'
    : typeof c.prevHash !== 'string' || !HEX64.test(c.prevHash) ? 'prevHash'
    : typeof c.hash !== 'string' || !HEX64.test(c.hash) ? 'hash'
    : null;
  if (bad !== null) return [bad, 'missing or invalid'];
  // Every known key is present (each was checked above), so fewer keys cannot happen here.
  return keys === WIRE_CHANGE_KEYS.length ? null : ['', 'missing keys'];
}

const MAX_CHANGES_PER_MESSAGE = 100_000;

/** A `changes` message: the envelope and each change checked in place, never copied. */
function checkChangesMessage(value: Record<string, unknown>): ChangesMessage {
  const invalid = (path: string, issue: string): MycelError => new MycelError('BAD_MESSAGE', { reason: 'invalid fields', t: 'changes', path, issue });
  for (const key in value) {
    if (Object.hasOwn(value, key) && key !== 't' && key !== 'changes' && key !== 'head' && key !== 'filtered') throw invalid(key, 'unrecognized key');
  }
  const { changes, head, filtered } = value;
  if (!Array.isArray(changes)) throw invalid('changes', 'not an array');
  if (changes.length > MAX_CHANGES_PER_MESSAGE) throw invalid('changes', `more than ${MAX_CHANGES_PER_MESSAGE} changes`);
  if (!isInt(head, 0, Number.MAX_SAFE_INTEGER)) throw invalid('head', 'missing or invalid');
  if (filtered !== undefined && typeof filtered !== 'boolean') throw invalid('filtered', 'not a boolean');
  for (let i = 0; i < changes.length; i++) {
    const problem = wireChangeProblem(changes[i]);
    if (problem !== null) throw invalid(problem[0] === '' ? `changes.${i}` : `changes.${i}.${problem[0]}`, problem[1]);
  }
  return value as unknown as ChangesMessage;
}

export const nodeProfileSchema = z
  .object({
    id: z.string().min(1).max(64),
    name: z.string().max(400),
    createdAt: z.number().int().min(0),
  })
  .strict();
export type NodeProfile = z.infer<typeof nodeProfileSchema>;

const helloSchema = z
  .object({
    t: z.literal('hello'),
    v: z.number().int(),
    node: nodeProfileSchema,
    wants: z.object({ pull: z.boolean(), serve: z.boolean() }).strict(),
  })
  .strict();

const pullSchema = z
  .object({
    t: z.literal('pull'),
    after: z.object({ serial, hash: hex64 }).strict(),
    credit: z.number().int().min(0).max(1_000_000),
  })
  .strict();

const creditSchema = z.object({ t: z.literal('credit'), n: z.number().int().min(1).max(1_000_000) }).strict();

const errorDetail = z.object({ code: z.string().min(1).max(100), message: z.string().max(2000), details: z.record(z.string(), z.unknown()).optional() }).strict();

const errorSchema = z.object({ t: z.literal('error') }).extend(errorDetail.shape).strict();

/** SSE only: the first event of GET /api/v1/nodes/link/events, naming the link for the POSTs. */
const linkSchema = z.object({ t: z.literal('link'), linkId: z.string().min(1).max(100) }).strict();

/** Forwarded writes (C, src/network forwarder): an operation for the peer to commit, and its answer. */
const forwardSchema = z.object({ t: z.literal('forward'), id: z.string().min(1).max(100), op: z.record(z.string(), z.unknown()) }).strict();
const forwardedSchema = z.union([
  z.object({ t: z.literal('forwarded'), id: z.string().min(1).max(100), ok: z.literal(true), result: z.unknown() }).strict(),
  z.object({ t: z.literal('forwarded'), id: z.string().min(1).max(100), ok: z.literal(false), error: errorDetail }).strict(),
]);

/**
 * Blobs over a link (blob-transfer.ts): `blob-get` asks for a blob with a credit of chunks,
 * `blob-chunk` carries at most BLOB_CHUNK_BYTES of it (base64), `blob-credit` lets the sender
 * send more, `blob-end` ends the transfer: found (all chunks sent), not found, or an error.
 */
export const BLOB_CHUNK_BYTES = 32 * 1024;
/** A chunk in base64 stays far below the smallest network.maxMessageBytes (64 KiB). */
const BLOB_CHUNK_CHARS = Math.ceil(BLOB_CHUNK_BYTES / 3) * 4;
const transferId = z.string().min(1).max(100);
const blobGetSchema = z.object({ t: z.literal('blob-get'), id: transferId, sha256: hex64, credit: z.number().int().min(1).max(64) }).strict();
const blobCreditSchema = z.object({ t: z.literal('blob-credit'), id: transferId, n: z.number().int().min(1).max(64) }).strict();
const blobChunkSchema = z.object({ t: z.literal('blob-chunk'), id: transferId, data: z.string().max(BLOB_CHUNK_CHARS).regex(/^[A-Za-z0-9+/]*={0,2}$/) }).strict();
const blobEndSchema = z.union([
  z.object({ t: z.literal('blob-end'), id: transferId, found: z.boolean() }).strict(),
  z.object({ t: z.literal('blob-end'), id: transferId, error: errorDetail }).strict(),
]);

const SCHEMAS = {
  hello: helloSchema,
  pull: pullSchema,
  credit: creditSchema,
  error: errorSchema,
  link: linkSchema,
  forward: forwardSchema,
  forwarded: forwardedSchema,
  'blob-get': blobGetSchema,
  'blob-credit': blobCreditSchema,
  'blob-chunk': blobChunkSchema,
  'blob-end': blobEndSchema,
} as const;

export type HelloMessage = z.infer<typeof helloSchema>;
export type PullMessage = z.infer<typeof pullSchema>;
export type CreditMessage = z.infer<typeof creditSchema>;
export interface ChangesMessage {
  t: 'changes';
  changes: Change[];
  /** The source's log head when it read this chunk. */
  head: number;
  /** Set when the source filters by the puller's channel permissions: serials may skip. */
  filtered?: boolean;
}
export type ErrorMessage = z.infer<typeof errorSchema>;
export type LinkIdMessage = z.infer<typeof linkSchema>;
export type ForwardMessage = z.infer<typeof forwardSchema>;
export type ForwardedMessage = z.infer<typeof forwardedSchema>;
export type BlobGetMessage = z.infer<typeof blobGetSchema>;
export type BlobCreditMessage = z.infer<typeof blobCreditSchema>;
export type BlobChunkMessage = z.infer<typeof blobChunkSchema>;
export type BlobEndMessage = z.infer<typeof blobEndSchema>;

export type NetworkMessage =
  | HelloMessage
  | PullMessage
  | CreditMessage
  | ChangesMessage
  | ErrorMessage
  | LinkIdMessage
  | ForwardMessage
  | ForwardedMessage
  | BlobGetMessage
  | BlobCreditMessage
  | BlobChunkMessage
  | BlobEndMessage;

export type MessageType = NetworkMessage['t'];
type SchemaType = Exclude<MessageType, 'changes'>;

/** Bytes of a message's text as UTF-8 (the unit of network.maxMessageBytes). */
export function messageBytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Parses one message: CHUNK_TOO_LARGE over `maxBytes`, BAD_MESSAGE for anything that is not a
 * known message (the details say which field, never echo the message).
 */
export function parseMessage(text: string, maxBytes: number): NetworkMessage {
  // Cheap bound first: a string of n UTF-16 units has at least n bytes.
  if (text.length > maxBytes || messageBytes(text) > maxBytes) {
    throw new MycelError('CHUNK_TOO_LARGE', { limit: maxBytes });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new MycelError('BAD_MESSAGE', { reason: 'not JSON' });
  }
  return checkMessage(value);
}

/** A parsed JSON value as a message, or BAD_MESSAGE. */
export function checkMessage(value: unknown): NetworkMessage {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new MycelError('BAD_MESSAGE', { reason: 'not an object' });
  const t = (value as { t?: unknown }).t;
  if (t === 'changes') return checkChangesMessage(value as Record<string, unknown>);
  if (typeof t !== 'string' || !Object.hasOwn(SCHEMAS, t)) throw new MycelError('BAD_MESSAGE', { reason: 'unknown message type', t: typeof t === 'string' ? t.slice(0, 40) : null });
  const parsed = SCHEMAS[t as SchemaType].safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new MycelError('BAD_MESSAGE', { reason: 'invalid fields', t, path: issue ? issue.path.join('.') : '', issue: issue?.message ?? '' });
  }
  return parsed.data as NetworkMessage;
}

/** Encodes a message for the wire. */
export function encodeMessage(message: NetworkMessage): string {
  return JSON.stringify(message);
}

/** The `error` message for a failure (a MycelError keeps its code; anything else is INTERNAL). */
export function errorMessageOf(code: string, message: string, details?: Record<string, unknown>): ErrorMessage {
  return details === undefined ? { t: 'error', code, message } : { t: 'error', code, message, details };
}
