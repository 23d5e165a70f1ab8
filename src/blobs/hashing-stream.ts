import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { MycelError } from '../errors.js';

/**
 * A pass-through that hashes what flows through it with sha256 and sha1 in one pass and counts
 * the bytes; with `maxBytes` it fails with BLOB_TOO_LARGE as soon as more arrive.
 */
export class HashingStream extends Transform {
  private readonly sha256: Hash = createHash('sha256');
  private readonly sha1: Hash = createHash('sha1');
  private count = 0;
  private result: { sha256: string; sha1: string; size: number } | null = null;

  /** `bufferBytes` is what it buffers on each side before it pushes back (the default of a
   *  stream is 16 KiB, less than one socket read: every chunk would pause the source). */
  constructor(private readonly maxBytes?: number, bufferBytes = 16 * 1024) {
    super({ highWaterMark: bufferBytes });
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.count += buf.length;
    if (this.maxBytes !== undefined && this.count > this.maxBytes) {
      callback(new MycelError('BLOB_TOO_LARGE', { maxBytes: this.maxBytes }));
      return;
    }
    this.sha256.update(buf);
    this.sha1.update(buf);
    callback(null, buf);
  }

  override _flush(callback: TransformCallback): void {
    this.result = { sha256: this.sha256.digest('hex'), sha1: this.sha1.digest('hex'), size: this.count };
    callback();
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.count;
  }

  /** The digests; only after the stream has ended. */
  digests(): { sha256: string; sha1: string; size: number } {
    if (!this.result) throw new Error('HashingStream.digests() before the stream ended');
    return this.result;
  }
}
