/**
 * The blob store contract (docs/blobs.md): content-addressed bytes, named by sha256 with a sha1
 * alias. Implementations: fs-blob-store.ts. test/integration/blob-store-conformance.test.ts is
 * the suite every implementation passes.
 */

/** Hex digests and size of stored bytes. */
export interface StoredBlob {
  readonly sha256: string;
  readonly sha1: string;
  readonly size: number;
}

export interface PutOptions {
  /** More bytes than this → BLOB_TOO_LARGE (413); nothing is kept. */
  maxBytes?: number;
  /** The hash the caller knows; a mismatch → BLOB_HASH_MISMATCH (422); nothing is kept. */
  expect?: { algo: 'sha256' | 'sha1'; hex: string };
  /** The source's chunks are the store's once read (an HTTP request body: fresh buffers no one
   *  else holds): their memory may be freed as soon as they are written, instead of by the GC.
   *  Never set it for buffers the caller keeps or reuses. */
  releaseChunks?: boolean;
}

/**
 * A whole blob read into the caller's buffers (no fresh buffer per chunk, so a reader that
 * recycles a few buffers leaves nothing to the GC). The bytes are hashed as they are read; the
 * read that reaches the end checks the hash, and on a mismatch throws BLOB_CORRUPT (the file
 * moved to `corrupt/`) instead of answering 0. A caller that must never pass on a damaged blob
 * holds back its last chunk until the end is confirmed.
 */
export interface BlobReader {
  readonly size: number;
  /** Fills `target` from where the last read stopped: the byte count, 0 at the (verified) end. */
  read(target: Uint8Array): Promise<number>;
  /** Idempotent; a reader closes itself at its end and on its error. */
  close(): Promise<void>;
}

export interface BlobStore {
  /** Streams `source` to a temp file (same filesystem), hashing as it goes; fsync, rename to its
   *  final name, fsync the directory. Same content twice (even concurrently) = one file.
   *  `created` is false when the bytes were already stored. */
  put(source: AsyncIterable<Uint8Array> | NodeJS.ReadableStream, options?: PutOptions): Promise<StoredBlob & { created: boolean }>;
  /** sha256 hex of a stored blob named by sha1, or null. */
  resolveSha1(sha1: string): Promise<string | null>;
  has(sha256: string): Promise<boolean>;
  size(sha256: string): Promise<number | null>;
  /** A stream of the bytes [start, end] (inclusive; default the whole blob). A whole read is
   *  hashed as it goes; a mismatch destroys the stream with BLOB_CORRUPT and the file is moved to
   *  `corrupt/`. A ranged read checks the size only. Missing → BLOB_NOT_FOUND. */
  read(sha256: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream>;
  /** The whole blob, verified as read() verifies it, into the caller's buffers. Missing → BLOB_NOT_FOUND. */
  open(sha256: string): Promise<BlobReader>;
  /** Re-hashes a blob fully: ok | corrupt (moved aside) | missing. */
  verify(sha256: string): Promise<'ok' | 'corrupt' | 'missing'>;
  /** Removes the bytes and the sha1 alias; no error when absent. */
  remove(sha256: string): Promise<void>;
  /** Every stored blob (order unspecified). `sha1` comes from the alias (empty when it is missing). */
  list(): AsyncIterable<StoredBlob>;
}
