import type { FastifyReply } from 'fastify';
import type { BlobReader } from '../blobs/blob-store.js';
import { IO_CHUNK_BYTES } from '../blobs/fs-blob-store.js';
import { releaseBuffer } from '../blobs/hashed-temp-file.js';
import { acquireStaging, releaseStaging, STAGING_SLOT_BYTES, type Staging } from '../blobs/staging-memory.js';

/** Buffers a small download cycles through: one being read, one held back, one with the socket. */
const DOWNLOAD_BUFFERS = 3;

/**
 * Sends a whole blob from `reader` as the reply body through a few buffers of its own, each
 * filled again once the socket has taken it: no buffer per chunk, so nothing is left to the
 * GC on any runtime (Node 20 cannot free buffers early), and the pool is the backpressure: a
 * slow client holds the reads. The last chunk goes out only after the reader confirmed the
 * hash, so a damaged blob's body is never complete: the connection is cut (BLOB_CORRUPT,
 * logged). A reader that fails on its first read throws (the caller answers with the error).
 * A blob larger than one staging buffer is read into shared staging memory, which the reader's
 * hash thread checks while the socket sends it (the main thread only reads and writes).
 */
export async function sendBlobReader(reply: FastifyReply, reader: BlobReader): Promise<void> {
  const staging: Staging | null = reader.size > STAGING_SLOT_BYTES ? acquireStaging() : null;
  const size = Math.min(IO_CHUNK_BYTES, Math.max(1, reader.size));
  const buffers = staging ? [...staging.buffers] : Array.from({ length: DOWNLOAD_BUFFERS }, () => Buffer.allocUnsafeSlow(size));
  const free: Buffer[] = [...buffers];
  let wakeReader: (() => void) | null = null;
  const res = reply.raw;
  const giveBack = (buffer: Buffer) => {
    free.push(buffer);
    wakeReader?.();
  };
  const onClose = () => wakeReader?.();
  let held: { buffer: Buffer; n: number } | null = null;
  let started = false;
  res.on('close', onClose);
  try {
    for (;;) {
      while (free.length === 0 && !res.destroyed) await new Promise<void>((resolve) => (wakeReader = resolve));
      wakeReader = null;
      if (res.destroyed) return;
      const buffer = free.pop()!;
      const n = await reader.read(buffer);
      if (!started) {
        started = true;
        reply.hijack();
        res.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
      }
      if (held) send(held);
      if (n === 0) break;
      held = { buffer, n };
    }
    if (!res.destroyed) res.end();
  } catch (err) {
    if (!started) throw err;
    reply.log.warn({ err }, 'blob body failed mid-way; connection cut');
    res.destroy();
  } finally {
    await reader.close();
    if (staging) {
      // The pool may hand the buffers out again only once the socket no longer holds them.
      while (free.length < buffers.length && !res.destroyed) await new Promise<void>((resolve) => (wakeReader = resolve));
      releaseStaging(staging);
    }
    res.off('close', onClose);
  }

  function send(chunk: { buffer: Buffer; n: number }): void {
    held = null;
    if (res.destroyed) return;
    // The socket takes the bytes as they are; the buffer is filled again only after its callback.
    res.write(chunk.n === chunk.buffer.length ? chunk.buffer : chunk.buffer.subarray(0, chunk.n), () => giveBack(chunk.buffer));
  }
}

/**
 * Sends a blob's byte stream as the reply body, writing to the response itself so that each
 * chunk's memory is freed once the socket has taken it (see blobs/hashed-temp-file.ts: left to
 * the GC, a 200 MB download grew the server by ~70 MB on Node 24). The stream's chunks must be
 * fresh buffers of its own (FsBlobStore.read's are). Status and headers are what the reply
 * holds. A stream that fails before its first chunk throws (the caller answers with the error);
 * one that fails later (a damaged blob, BLOB_CORRUPT at its end) cuts the connection: the
 * client never gets a complete body.
 */
export async function sendReleasingBody(reply: FastifyReply, body: NodeJS.ReadableStream & AsyncIterable<unknown>): Promise<void> {
  const chunks = body[Symbol.asyncIterator]();
  const first = await chunks.next();
  reply.hijack();
  const res = reply.raw;
  res.writeHead(reply.statusCode, reply.getHeaders() as Record<string, string>);
  try {
    for (let next = first; !next.done; next = await chunks.next()) {
      if (res.destroyed) break;
      const chunk = next.value as Buffer;
      const more = res.write(chunk, (err) => {
        if (!err) releaseBuffer(chunk);
      });
      if (!more && !(await writable(res))) break;
    }
    if (res.destroyed) await chunks.return?.();
    else res.end();
  } catch (err) {
    reply.log.warn({ err }, 'blob body failed mid-way; connection cut');
    res.destroy();
  }
}

/** Resolves true on 'drain', false if the response closes first (client gone). */
function writable(res: FastifyReply['raw']): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => (): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
