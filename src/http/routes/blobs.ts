/**
 * Blobs over HTTP: PUT /api/v1/blobs streams the raw request body into the blob store (never
 * buffered: this scope has one content-type parser that hands the request stream through), and
 * GET/HEAD /api/v1/blobs/{uri} stream stored bytes back with ranges, ETag and caching headers.
 */
import { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { hasOwnerRights, type Actor } from '../../domain/actor.js';
import { checkMediaType } from '../../domain/blobs.js';
import { isMycelError, MycelError } from '../../errors.js';
import type { BlobReader, BlobStore } from '../../blobs/blob-store.js';
import { parseBlobUri } from '../../blobs/blob-uri.js';
import { actorOf } from '../auth.js';
import { sendBlobReader, sendReleasingBody } from '../blob-body.js';
import type { HttpContext } from '../context.js';
import { discardRestOfBody } from '../discard-body.js';
import { AUTH_ERRORS, apiSchemas, SECURED, withErrors } from '../schemas.js';

/** Blobs at most this large are read whole (and so hash-checked) before the reply starts: a damaged one answers BLOB_CORRUPT instead of a cut-off body. */
const VERIFY_BEFORE_SEND_BYTES = 8 * 1024 * 1024;

export const blobSchema = z
  .object({
    sha256: z.string().describe('`sha256://<64 hex>`'),
    sha1: z.string().describe('`sha1://<40 hex>`'),
    size: z.number().int().describe('Bytes'),
    mediaType: z.string().nullable().describe('The Content-Type the blob was uploaded with (null when none)'),
  })
  .register(apiSchemas, { id: 'Blob' });

const binary = z.string().meta({ format: 'binary' });
const uriParams = z.object({ uri: z.string().describe('The URL-encoded blob URI (`sha256%3A%2F%2F<hex>`, `sha1%3A%2F%2F<hex>`) or `sha256:<hex>` / `sha1:<hex>`') });
const algoParams = z.object({ algo: z.enum(['sha256', 'sha1']), hex: z.string().describe('The digest, lowercase hex') });
const getHeaders = z.object({
  range: z.string().optional().describe('`bytes=start-end`, `bytes=start-` or `bytes=-suffix`; one range (a multi-range asks for its first); a malformed one is ignored'),
  'if-none-match': z.string().optional().describe('`"<sha256 hex>"` (or `*`): 304 when it matches'),
});
const READ_ERRORS = [...AUTH_ERRORS, 404] as const;

/** The single byte range a Range header asks for: a range, 'unsatisfiable', or null to send everything (no header, a malformed one, or another unit). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (header === undefined) return null;
  const match = /^\s*bytes\s*=\s*([^,]*)/i.exec(header);
  if (!match) return null;
  const spec = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(match[1]!);
  if (!spec || (spec[1] === '' && spec[2] === '')) return null;
  if (spec[1] === '') {
    // Suffix: the last N bytes.
    const suffix = Number(spec[2]);
    if (!Number.isSafeInteger(suffix)) return null;
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(spec[1]);
  const last = spec[2] === '' ? Number.MAX_SAFE_INTEGER : Number(spec[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(last)) return null;
  if (last < start) return null; // invalid syntax per RFC 9110: ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) };
}

function ifNoneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/** PUT /api/v1/blobs, GET/HEAD /api/v1/blobs/{uri}, /api/v1/blobs/{algo}/{hex}. */
export const blobRoutes: FastifyPluginAsyncZod<HttpContext> = async (app, context) => {
  const { core, config } = context;
  const ops = core.operator;
  const tags = ['blobs'];
  const maxBytes = config.blobs.maxUploadBytes;

  const storeOf = (): BlobStore => {
    if (!context.blobs) throw new MycelError('NOT_READY', { reason: 'this node runs without a blob store' });
    return context.blobs;
  };

  // Any content type is a blob: the handler reads the request stream itself, so nothing is buffered.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  app.put(
    '/api/v1/blobs',
    {
      bodyLimit: Number.MAX_SAFE_INTEGER,
      schema: {
        tags,
        operationId: 'putBlob',
        summary: 'Upload a blob: the raw request body, any Content-Type (stored as its media type)',
        description: `Streams the body to the store, hashing as it goes. 201 when the blob is new, 200 when it was already stored (idempotent). Larger than blobs.maxUploadBytes → 413 BLOB_TOO_LARGE, nothing kept. The whole body must arrive within server.requestTimeoutMs.`,
        security: SECURED,
        consumes: ['*/*'],
        body: z.unknown().meta({ type: 'string', format: 'binary', description: 'The blob’s bytes' }),
        response: withErrors({ 200: blobSchema, 201: blobSchema }, [...AUTH_ERRORS, 413]),
      },
    },
    async (request, reply) => {
      const actor = actorOf(request);
      const store = storeOf();
      const declared = request.headers['content-length'];
      if (declared !== undefined && Number(declared) > maxBytes) {
        // The body will not be stored: the answer goes first, the rest is dropped within a budget.
        discardRestOfBody(request.raw);
        throw new MycelError('BLOB_TOO_LARGE', { maxBytes, size: Number(declared) });
      }
      // Checked before the body is read: a media type the record would refuse must not leave bytes behind.
      let mediaType: string | null;
      try {
        mediaType = checkMediaType(request.headers['content-type']?.trim());
      } catch (err) {
        discardRestOfBody(request.raw);
        throw err;
      }
      let stored;
      try {
        // From a network socket the body's buffers are fresh copies no one else holds: freed as
        // soon as they are written. An injected request (in-process) hands over the caller's own
        // buffers, which must be left alone. The store stops reading on a refusal without
        // destroying the request, so the answer can still reach a client that is sending.
        const fromSocket = request.raw.socket instanceof Socket;
        stored = await store.put(request.raw.iterator({ destroyOnReturn: false }), { maxBytes, releaseChunks: fromSocket });
      } catch (err) {
        discardRestOfBody(request.raw);
        throw err;
      }
      const recorded = await ops.recordBlob(actor, stored, mediaType);
      const created = stored.created || recorded.created;
      return reply.code(created ? 201 : 200).send({
        sha256: `sha256://${stored.sha256}`,
        sha1: `sha1://${stored.sha1}`,
        size: stored.size,
        mediaType: recorded.blob.mediaType,
      });
    },
  );

  /** The sha256 and media type of the blob a path names, if the actor may read it; BLOB_NOT_FOUND otherwise (no existence oracle). */
  async function readable(actor: Actor, algo: 'sha256' | 'sha1', hex: string): Promise<{ sha256: string; mediaType: string | null }> {
    if (!config.blobs.allowDownload && !hasOwnerRights(actor)) throw new MycelError('BLOB_NOT_FOUND');
    try {
      const record = await ops.getBlob(actor, `${algo}://${hex}`);
      return { sha256: record.sha256, mediaType: record.mediaType };
    } catch (err) {
      if (!isMycelError(err) || err.code !== 'BLOB_NOT_FOUND') throw err;
    }
    // Bytes without a record (stored, but the record never written): the owner may still read them.
    if (!hasOwnerRights(actor)) throw new MycelError('BLOB_NOT_FOUND');
    const sha256 = algo === 'sha256' ? hex : await storeOf().resolveSha1(hex);
    if (sha256 === null) throw new MycelError('BLOB_NOT_FOUND');
    return { sha256, mediaType: null };
  }

  async function serve(request: FastifyRequest, reply: FastifyReply, algo: 'sha256' | 'sha1', hex: string): Promise<FastifyReply> {
    const actor = actorOf(request);
    const store = storeOf();
    const { sha256, mediaType } = await readable(actor, algo, hex);
    let size = await store.size(sha256);
    // Known here (and readable) but the bytes are elsewhere: from the servers this node pulls from.
    if (size === null && (await context.blobFetcher?.fetchMissing(sha256))) size = await store.size(sha256);
    if (size === null) throw new MycelError('BLOB_NOT_FOUND');
    const etag = `"${sha256}"`;
    // Only answers about the bytes carry the caching headers: an error must never be cached as immutable.
    const cacheHeaders = (): void => {
      reply.header('etag', etag);
      reply.header('cache-control', 'private, max-age=31536000, immutable');
      reply.header('accept-ranges', 'bytes');
    };
    reply.header('x-content-type-options', 'nosniff');
    if (ifNoneMatchHits(request.headers['if-none-match'], etag)) {
      cacheHeaders();
      return reply.code(304).send();
    }
    const range = parseRange(request.headers.range, size);
    if (range === 'unsatisfiable') {
      reply.header('accept-ranges', 'bytes');
      reply.header('content-range', `bytes */${size}`);
      throw new MycelError('RANGE_NOT_SATISFIABLE', { size });
    }
    const length = range ? range.end - range.start + 1 : size;
    let body: Buffer | NodeJS.ReadableStream | BlobReader | undefined;
    if (request.method === 'HEAD') body = undefined;
    else if (length === 0) body = Buffer.alloc(0);
    else if (range) body = await store.read(sha256, range);
    else if (size <= VERIFY_BEFORE_SEND_BYTES) {
      // Small enough to hold: read (and so verify) it all first, so a damaged blob answers its error code.
      const chunks: Buffer[] = [];
      for await (const chunk of await store.read(sha256)) chunks.push(chunk as Buffer);
      body = Buffer.concat(chunks);
    } else {
      // A damaged large blob is caught at its end: the last chunk is held back and the
      // connection cut, so the client never holds a body that passes for the blob.
      body = await store.open(sha256);
    }
    cacheHeaders();
    reply.type(mediaType ?? 'application/octet-stream');
    if (range) {
      reply.code(206);
      reply.header('content-range', `bytes ${range.start}-${range.end}/${size}`);
    }
    reply.header('content-length', String(length));
    if (body === undefined) return reply.send();
    if (Buffer.isBuffer(body)) return reply.send(body);
    if ('pipe' in body) await sendReleasingBody(reply, body as NodeJS.ReadableStream & AsyncIterable<unknown>);
    else await sendBlobReader(reply, body);
    return reply;
  }

  const readSchema = (operationId: string, summary: string, params: z.ZodType) => ({
    tags,
    operationId,
    summary,
    description:
      'Any actor who may read the blob: the owner, its uploader, or a reader of a channel with a post referring to it (blobs.allowDownload false: the owner only). Otherwise 404 BLOB_NOT_FOUND. One byte range (206); unsatisfiable → 416 with `Content-Range: bytes */size`. ETag `"<sha256>"`, immutable.',
    security: SECURED,
    params,
    headers: getHeaders,
    response: {
      ...withErrors({ 200: binary, 206: binary.describe('The requested range'), 304: z.null().describe('Not modified (If-None-Match)') }, [...READ_ERRORS, 416]),
    },
  });

  // The reply is sent by serve(): the handlers resolve to nothing.
  const byUri = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { algo, hex } = parseBlobUri((request.params as { uri: string }).uri);
    await serve(request, reply, algo, hex);
  };
  const byAlgo = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { algo, hex } = request.params as { algo: 'sha256' | 'sha1'; hex: string };
    const parsed = parseBlobUri(`${algo}:${hex}`);
    await serve(request, reply, parsed.algo, parsed.hex);
  };
  const bodiless = 'The headers a GET would answer with, no body.';
  app.route({ method: 'GET', url: '/api/v1/blobs/:uri', exposeHeadRoute: false, schema: readSchema('getBlob', 'A blob’s bytes, by its URI', uriParams), handler: byUri });
  app.route({ method: 'HEAD', url: '/api/v1/blobs/:uri', schema: { ...readSchema('headBlob', 'A blob’s headers (size, type, ETag), by its URI', uriParams), description: bodiless }, handler: byUri });
  app.route({ method: 'GET', url: '/api/v1/blobs/:algo/:hex', exposeHeadRoute: false, schema: readSchema('getBlobByAlgo', 'A blob’s bytes, by algorithm and digest', algoParams), handler: byAlgo });
  app.route({ method: 'HEAD', url: '/api/v1/blobs/:algo/:hex', schema: { ...readSchema('headBlobByAlgo', 'A blob’s headers (size, type, ETag), by algorithm and digest', algoParams), description: bodiless }, handler: byAlgo });
};
