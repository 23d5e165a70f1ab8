import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { formatBlobUri, parseBlobUri, type BlobUri } from '../blobs/blob-uri.js';
import { isMycelError, MycelError } from '../errors.js';
import type { ContentAccess } from './content-access.js';
import type { SharedMount } from './shared-mount.js';
import type { NodeClient } from './node-client.js';
import { transferProgress } from './transfer-progress.js';

/**
 * `mycel store`, `mycel cat` and `mycel load`: blobs moved between files, standard output and
 * nodes over their REST API (PUT/GET/HEAD /api/v1/blobs, docs/api.md), streamed, never held in
 * memory whole. What a command prints on stdout is the data (URIs, bytes); notes go to stderr.
 */

/** The node's answer to PUT /api/v1/blobs. */
export interface PutAnswer {
  sha256: string;
  sha1: string;
  size: number;
  mediaType: string | null;
}

/** The REST path of a blob: `/api/v1/blobs/sha256/<hex>` (or sha1). */
export function blobPath(uri: BlobUri): string {
  return `/api/v1/blobs/${uri.algo}/${uri.hex}`;
}

/** A URI as the user gave it (sha256://…, sha1://…, sha256:…, or a bare 64/40-hex digest). */
export function blobUriArg(raw: string): BlobUri {
  return parseBlobUri(raw.trim(), { bareHex: true });
}

/**
 * A pass-through that hashes the bytes with the URI's algorithm and, at the end, fails with
 * BLOB_HASH_MISMATCH when they are not the bytes the URI names: the stream then errors before
 * it ends, so an upload it feeds is cut off and nothing is stored.
 */
export function hashCheck(uri: BlobUri, from: string): Transform {
  const hash: Hash = createHash(uri.algo);
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      const got = hash.digest('hex');
      if (got === uri.hex) return callback();
      callback(new MycelError('BLOB_HASH_MISMATCH', { uri: formatBlobUri(uri.algo, uri.hex), got: formatBlobUri(uri.algo, got), size, from }, `${from} sent bytes that are not ${formatBlobUri(uri.algo, uri.hex)}`));
    },
  });
}

function sizeOf(res: Response): number | null {
  const raw = res.headers.get('content-length');
  const n = raw === null ? NaN : Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function bodyOf(res: Response): Readable {
  if (res.body === null) throw new MycelError('NODE_UNREACHABLE', { reason: 'the blob answer has no body' });
  return Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
}

/** `source`, through a progress bar when one is wanted. */
function withProgress(source: Readable, label: string, size: number | null): Readable {
  const bar = transferProgress(label, size);
  if (bar === null) return source;
  source.on('error', (err) => bar.destroy(err));
  return source.pipe(bar);
}

async function putBlob(node: NodeClient, body: Readable, mediaType: string): Promise<PutAnswer> {
  const res = await node.send('PUT', '/api/v1/blobs', { body, headers: { 'content-type': mediaType } });
  return (await res.json()) as PutAnswer;
}

/** A post in `channelRef` that refers to the blob: its URIs in the body (so readers see them) and in meta. */
async function postBlob(content: ContentAccess, channelRef: string, blob: PutAnswer, name: string | null): Promise<void> {
  const channel = await content.getChannel(channelRef);
  const post = await content.createPost(channel.id, {
    body: [name ?? 'blob', blob.sha256, blob.sha1].filter((s) => s !== '').join(' '),
    blobRefs: [blob.sha256, blob.sha1].filter((s) => s !== ''),
    meta: { blob: { sha256: blob.sha256, ...(blob.sha1 === '' ? {} : { sha1: blob.sha1 }), size: blob.size, mediaType: blob.mediaType, ...(name === null ? {} : { name }) } },
  });
  process.stderr.write(`posted #${post.seq} in ${channel.name} (${post.id})\n`);
}

/** `mycel store FILE…`: uploads each file; prints `sha256://… sha1://… FILE` per file. */
export async function runStore(node: NodeClient, content: ContentAccess, files: readonly string[], options: { channel?: string; mediaType?: string; json?: boolean }): Promise<void> {
  // Every file is checked before the first upload, so a typo does not leave half the list stored.
  const sizes: number[] = [];
  for (const file of files) {
    const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
      throw new MycelError('VALIDATION_FAILED', { field: 'file', file, reason: err.code ?? err.message }, `Cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : (err.code ?? err.message)}`);
    });
    if (!info.isFile()) throw new MycelError('VALIDATION_FAILED', { field: 'file', file }, `${file} is not a regular file`);
    sizes.push(info.size);
  }
  const answers: Array<PutAnswer & { file: string }> = [];
  for (const [i, file] of files.entries()) {
    const body = withProgress(createReadStream(file), `store ${basename(file)}`, sizes[i]!);
    const blob = await putBlob(node, body, options.mediaType ?? 'application/octet-stream');
    if (options.json) answers.push({ ...blob, file });
    else process.stdout.write(`${blob.sha256} ${blob.sha1} ${file}\n`);
    if (options.channel !== undefined) await postBlob(content, options.channel, blob, basename(file));
  }
  if (options.json) process.stdout.write(`${JSON.stringify(answers, null, 2)}\n`);
}

/** Whether a failure is only the reader of stdout having gone (`mycel cat X | head -c 10`). */
function isClosedPipe(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}

/** Blobs at most this large are read whole (and so hash-checked) from a mount before the first byte is written. */
const VERIFY_BEFORE_WRITE_BYTES = 8 * 1024 * 1024;

/**
 * Writes a blob from a shared node's mounted storage directory (docs/shared-node.md) to stdout:
 * sha1 names through the store's symlinks, the bytes hashed with sha256 against the file's name
 * (the store's verifying read) and with the URI's algorithm. A blob of at most 8 MiB is checked
 * before anything is written; a larger one streams and a mismatch ends it before its last chunk.
 * Damaged bytes are BLOB_CORRUPT (exit 1). False when the mount does not have the blob, or this
 * user may not read its file: the caller asks the node over HTTP then.
 */
async function catFromMount(mount: SharedMount, uri: BlobUri, note: (line: string) => void): Promise<boolean> {
  const sha256 = uri.algo === 'sha256' ? uri.hex : await mount.store.resolveSha1(uri.hex);
  if (sha256 === null) return false;
  const size = await mount.store.size(sha256);
  if (size === null) return false;
  let stream: NodeJS.ReadableStream;
  try {
    stream = await mount.store.read(sha256);
  } catch (err) {
    if (isMycelError(err) && err.code === 'BLOB_NOT_FOUND') return false;
    note(`note: cannot read ${mount.store.pathOf(sha256)} (${(err as NodeJS.ErrnoException).code ?? String(err)}): asking the node over HTTP`);
    return false;
  }
  const damaged = (err: unknown): unknown =>
    isMycelError(err) && (err.code === 'BLOB_CORRUPT' || err.code === 'BLOB_HASH_MISMATCH')
      ? new MycelError('BLOB_CORRUPT', { sha256, path: mount.store.pathOf(sha256) }, `The file of ${formatBlobUri(uri.algo, uri.hex)} in the storage directory does not hash to its name: the node sets it aside at its next read or \`mycel blobs verify\``)
      : err;
  try {
    if (size <= VERIFY_BEFORE_WRITE_BYTES) {
      const chunks: Buffer[] = [];
      await pipeline(stream, hashCheck(uri, mount.dir), async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) chunks.push(chunk);
      });
      await pipeline(Readable.from([Buffer.concat(chunks)]), process.stdout, { end: false });
    } else {
      await pipeline(withProgress(Readable.from(stream as AsyncIterable<Buffer>), 'cat', size), hashCheck(uri, mount.dir), process.stdout, { end: false });
    }
  } catch (err) {
    if (isClosedPipe(err)) return true;
    throw damaged(err);
  }
  return true;
}

/**
 * `mycel cat URI`: the bytes to stdout, checked against the URI as they pass (a mismatch at the
 * end is BLOB_HASH_MISMATCH and exit 1, the bytes already written notwithstanding). A reader that
 * stops early (`| head -c 10`) ends the command quietly with exit 0. With a shared node's mount
 * the bytes come from it, else (or when the mount lacks the blob) from the node over HTTP.
 */
export async function runCat(node: NodeClient, raw: string, mount: SharedMount | null = null): Promise<void> {
  const uri = blobUriArg(raw);
  if (mount !== null && (await catFromMount(mount, uri, (line) => process.stderr.write(`${line}\n`)))) return;
  const res = await node.send('GET', blobPath(uri));
  const source = withProgress(bodyOf(res), 'cat', sizeOf(res));
  try {
    await pipeline(source, hashCheck(uri, node.url), process.stdout, { end: false });
  } catch (err) {
    if (isClosedPipe(err)) return;
    throw err;
  }
}

/** Where `mycel load` takes the bytes from: another node (logged in there), or null for the target's own servers. */
export type LoadSource = NodeClient | null;

/**
 * `mycel load URI`: with a source node, streams the blob from it into the target node, checking
 * the hash on the way (other bytes cut the upload off: nothing is stored); without one, asks the
 * target node for the blob, which fetches it from the servers it pulls from (docs/blobs.md,
 * "Between nodes"). Prints `sha256://… sha1://…` (the sha1 only when known).
 */
export async function runLoad(target: NodeClient, from: LoadSource, content: ContentAccess, raw: string, options: { channel?: string; json?: boolean }): Promise<void> {
  const uri = blobUriArg(raw);
  let blob: PutAnswer;
  if (from !== null) {
    const res = await from.send('GET', blobPath(uri));
    const checked = withProgress(bodyOf(res), 'load', sizeOf(res)).pipe(hashCheck(uri, from.url));
    blob = await putBlob(target, checked, res.headers.get('content-type') ?? 'application/octet-stream');
    const named = uri.algo === 'sha256' ? blob.sha256 : blob.sha1;
    if (named !== formatBlobUri(uri.algo, uri.hex)) {
      throw new MycelError('BLOB_HASH_MISMATCH', { uri: formatBlobUri(uri.algo, uri.hex), got: named, node: target.url }, `${target.url} stored the bytes as ${named}`);
    }
  } else {
    // A GET (its body dropped unread) rather than HEAD: a refusal then comes with its error code.
    const res = await target.send('GET', blobPath(uri));
    await res.body?.cancel();
    const etag = /^"?([0-9a-f]{64})"?$/.exec(res.headers.get('etag') ?? '')?.[1];
    blob = {
      sha256: etag ? formatBlobUri('sha256', etag) : uri.algo === 'sha256' ? formatBlobUri('sha256', uri.hex) : '',
      sha1: uri.algo === 'sha1' ? formatBlobUri('sha1', uri.hex) : '',
      size: sizeOf(res) ?? 0,
      mediaType: res.headers.get('content-type'),
    };
  }
  if (options.json) process.stdout.write(`${JSON.stringify(blob, null, 2)}\n`);
  else process.stdout.write(`${[blob.sha256, blob.sha1].filter((s) => s !== '').join(' ')}\n`);
  if (options.channel !== undefined) await postBlob(content, options.channel, blob, null);
}
