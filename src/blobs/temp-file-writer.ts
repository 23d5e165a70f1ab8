import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/**
 * The Writable a put streams into: writes (batched with writev) to an open file handle, and
 * with `releaseChunks` frees each chunk's memory as soon as it is on the file.
 *
 * Why release: an HTTP body arrives as one fresh buffer per socket read. V8 frees such buffers
 * only in a full (mark-compact) collection, which it starts each time ~64 MB of them pile up and
 * which, over a server's heap, runs while the next tens of MB arrive: a large upload grew the
 * server by 65–78 MB on Node 24 and spent a fifth of its CPU collecting. Detaching a written
 * chunk (`ArrayBuffer.prototype.transfer(0)`, Node ≥ 22) frees it at once, and no collection
 * is started. Where transfer is missing (Node 20) chunks are left to the GC.
 */
export class TempFileWriter extends Writable {
  constructor(
    private readonly file: FileHandle,
    private readonly releaseChunks: boolean,
    bufferBytes: number,
  ) {
    super({ highWaterMark: bufferBytes, decodeStrings: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeAll([chunk]).then(() => callback(), callback);
  }

  override _writev(entries: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.writeAll(entries.map((e) => e.chunk)).then(() => callback(), callback);
  }

  private async writeAll(chunks: Buffer[]): Promise<void> {
    let rest = chunks;
    while (rest.length > 0) {
      const { bytesWritten } = await this.file.writev(rest);
      rest = skipBytes(rest, bytesWritten);
    }
    if (this.releaseChunks) for (const chunk of chunks) releaseBuffer(chunk);
  }
}

/** `chunks` less their first `n` bytes (a short write). */
function skipBytes(chunks: Buffer[], n: number): Buffer[] {
  let skip = n;
  let i = 0;
  while (i < chunks.length && skip >= chunks[i]!.length) skip -= chunks[i++]!.length;
  const rest = chunks.slice(i);
  if (skip > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(skip);
  return rest;
}

/** Frees the memory of a buffer that owns its whole ArrayBuffer (never a slice of a shared pool); false when it cannot. */
export function releaseBuffer(chunk: Uint8Array): boolean {
  const buffer = chunk.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (typeof buffer.transfer !== 'function' || buffer instanceof SharedArrayBuffer) return false;
  if (chunk.byteOffset !== 0 || chunk.byteLength !== buffer.byteLength || buffer.byteLength === 0) return false;
  buffer.transfer(0);
  return true;
}
