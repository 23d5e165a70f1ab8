import { createHash, type Hash } from 'node:crypto';

/** sha256 and sha1 of a blob in one pass, and its size. */
export class BlobHasher {
  private readonly sha256: Hash = createHash('sha256');
  private readonly sha1: Hash = createHash('sha1');
  private count = 0;

  update(chunk: Uint8Array): void {
    this.count += chunk.byteLength;
    this.sha256.update(chunk);
    this.sha1.update(chunk);
  }

  /** The digests and size; call once, at the end. */
  digests(): { sha256: string; sha1: string; size: number } {
    return { sha256: this.sha256.digest('hex'), sha1: this.sha1.digest('hex'), size: this.count };
  }
}
