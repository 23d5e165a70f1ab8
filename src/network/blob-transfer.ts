/**
 * Blobs over a node link (docs/blobs.md, "Between nodes"). A node that got a post from a peer it
 * cannot reach over HTTP — a client node that connected to it and serves it data (role
 * reversal: the client is the parent) — asks for the blob on the link itself: `blob-get` with a
 * credit of chunks; the peer answers with `blob-chunk`s of at most 32 KiB, one per credit, and
 * `blob-end`. The asker gives a credit back as each chunk is taken from its stream, so neither
 * side holds more than the window in memory. The bytes are not trusted here: the blob fetcher
 * stores them with the expected sha256 (other bytes keep nothing, BLOB_HASH_MISMATCH).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { isMycelError, MycelError } from '../errors.js';
import type { Logger } from '../log.js';
import type { LinkChannel, LinkMessageHandler } from './link.js';
import { BLOB_CHUNK_BYTES, type NetworkMessage } from './protocol.js';

/** Chunks in flight per transfer. */
const WINDOW = 8;
/** A transfer whose reader sends no credit for this long is given up. */
const STALL_MS = 60_000;

/** What this node serves: a blob's (verifying) stream for the peer, or null when it lacks it or the peer may not have it. */
export type LocalBlobSource = (sha256: string, peerNodeId: string) => Promise<NodeJS.ReadableStream | null>;

export interface BlobTransferDeps {
  /** Whether this node serves its data on the link (the peer pulls from it): only then does it give blobs there. */
  servesOn(link: LinkChannel): boolean;
  local: LocalBlobSource;
  log: Logger;
  /** Milliseconds to wait for the first answer to a request (default 30 s). */
  answerTimeoutMs?: number;
}

interface Outgoing {
  link: LinkChannel;
  credit: number;
  wake: (() => void) | null;
  stopped: boolean;
  source: NodeJS.ReadableStream | null;
}

interface Incoming {
  link: LinkChannel;
  stream: Readable | null;
  /** Credits owed to the sender, given back when the stream wants more. */
  owed: number;
  settle: ((stream: Readable | null) => void) | null;
  fail: ((err: unknown) => void) | null;
  timer: NodeJS.Timeout | undefined;
}

const key = (link: LinkChannel, id: string): string => `${link.peerNodeId}\u0000${id}`;

export class BlobTransfer implements LinkMessageHandler {
  readonly #deps: BlobTransferDeps;
  readonly #outgoing = new Map<string, Outgoing>();
  readonly #incoming = new Map<string, Incoming>();

  constructor(deps: BlobTransferDeps) {
    this.#deps = deps;
  }

  onMessage(link: LinkChannel, message: NetworkMessage): boolean {
    switch (message.t) {
      case 'blob-get':
        void this.#serve(link, message.id, message.sha256, message.credit);
        return true;
      case 'blob-credit': {
        const out = this.#outgoing.get(key(link, message.id));
        if (out) {
          out.credit += message.n;
          out.wake?.();
        }
        return true;
      }
      case 'blob-chunk':
        this.#chunk(link, message.id, Buffer.from(message.data, 'base64'));
        return true;
      case 'blob-end':
        this.#end(link, message.id, 'error' in message ? message.error : message.found);
        return true;
      default:
        return false;
    }
  }

  onLinkClosed(link: LinkChannel): void {
    for (const [k, out] of this.#outgoing) {
      if (out.link !== link) continue;
      out.stopped = true;
      out.wake?.();
      this.#outgoing.delete(k);
    }
    for (const [k, inc] of this.#incoming) {
      if (inc.link !== link) continue;
      this.#incoming.delete(k);
      this.#failIncoming(inc, new MycelError('LINK_CLOSED', { peer: link.peerNodeId }));
    }
  }

  /**
   * Asks the peer on `link` for a blob: its bytes as a stream (not yet verified), or null when
   * the peer does not have it or will not give it. LINK_CLOSED when the link ends first.
   */
  request(link: LinkChannel, sha256: string): Promise<Readable | null> {
    const id = randomBytes(9).toString('base64url');
    return new Promise<Readable | null>((resolve, reject) => {
      const inc: Incoming = { link, stream: null, owed: 0, settle: resolve, fail: reject, timer: undefined };
      const timeoutMs = this.#deps.answerTimeoutMs ?? 30_000;
      inc.timer = setTimeout(() => {
        this.#incoming.delete(key(link, id));
        this.#failIncoming(inc, new MycelError('NETWORK_SERVER_UNREACHABLE', { peer: link.peerNodeId, reason: `no answer to a blob request within ${timeoutMs} ms` }));
      }, timeoutMs);
      this.#incoming.set(key(link, id), inc);
      try {
        link.send({ t: 'blob-get', id, sha256, credit: WINDOW });
      } catch (err) {
        this.#incoming.delete(key(link, id));
        clearTimeout(inc.timer);
        reject(err);
      }
    });
  }

  #started(inc: Incoming, link: LinkChannel, id: string): Readable {
    if (inc.stream) return inc.stream;
    clearTimeout(inc.timer);
    const stream = new Readable({
      highWaterMark: BLOB_CHUNK_BYTES * 2,
      read: () => {
        // The reader wants more: give back what was held while its buffer was full.
        if (inc.owed > 0 && this.#incoming.has(key(link, id))) {
          const n = inc.owed;
          inc.owed = 0;
          try {
            link.send({ t: 'blob-credit', id, n });
          } catch {
            // The link closed: onLinkClosed fails the stream.
          }
        }
      },
      destroy: (err, callback) => {
        // A reader that gives up (a failed put) ends the transfer; the sender stops at its next credit wait.
        this.#incoming.delete(key(link, id));
        callback(err);
      },
    });
    inc.stream = stream;
    inc.settle?.(stream);
    inc.settle = null;
    inc.fail = null;
    return stream;
  }

  #chunk(link: LinkChannel, id: string, bytes: Buffer): void {
    const inc = this.#incoming.get(key(link, id));
    if (!inc) return;
    const stream = this.#started(inc, link, id);
    inc.owed += 1;
    // Credit is given back in read(), which Node calls while the buffer is below its mark.
    stream.push(bytes);
  }

  #end(link: LinkChannel, id: string, outcome: boolean | { code: string; message: string; details?: Record<string, unknown> | undefined }): void {
    const inc = this.#incoming.get(key(link, id));
    if (!inc) return;
    this.#incoming.delete(key(link, id));
    clearTimeout(inc.timer);
    if (outcome === true) {
      this.#started(inc, link, id).push(null);
      return;
    }
    if (outcome === false) {
      if (inc.stream) inc.stream.destroy(new MycelError('BLOB_NOT_FOUND', { peer: link.peerNodeId }));
      else inc.settle?.(null);
      return;
    }
    const err = new MycelError('NETWORK_SERVER_UNREACHABLE', { peer: link.peerNodeId, code: outcome.code, reason: outcome.message });
    this.#failIncoming(inc, err);
  }

  #failIncoming(inc: Incoming, err: unknown): void {
    clearTimeout(inc.timer);
    if (inc.stream) inc.stream.destroy(err as Error);
    else inc.fail?.(err);
    inc.settle = null;
    inc.fail = null;
  }

  /** Sends a blob to the peer, a chunk per credit; any failure ends the transfer with an error, never the link. */
  async #serve(link: LinkChannel, id: string, sha256: string, credit: number): Promise<void> {
    const k = key(link, id);
    if (this.#outgoing.has(k)) return;
    const out: Outgoing = { link, credit, wake: null, stopped: false, source: null };
    this.#outgoing.set(k, out);
    const send = (message: NetworkMessage): boolean => {
      try {
        link.send(message);
        return true;
      } catch {
        return false;
      }
    };
    try {
      out.source = this.#deps.servesOn(link) ? await this.#deps.local(sha256, link.peerNodeId) : null;
      if (out.source === null) {
        send({ t: 'blob-end', id, found: false });
        return;
      }
      for await (const piece of out.source as AsyncIterable<Buffer>) {
        for (let at = 0; at < piece.length; at += BLOB_CHUNK_BYTES) {
          while (out.credit === 0 && !out.stopped) {
            // A reader that gave up sends no more credit: stop after a while rather than hold the file open.
            const credited = await new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(false), STALL_MS);
              out.wake = () => {
                clearTimeout(timer);
                resolve(true);
              };
            });
            out.wake = null;
            if (!credited) out.stopped = true;
          }
          if (out.stopped) return;
          out.credit -= 1;
          if (!send({ t: 'blob-chunk', id, data: piece.subarray(at, at + BLOB_CHUNK_BYTES).toString('base64') })) return;
        }
      }
      send({ t: 'blob-end', id, found: true });
    } catch (err) {
      const e = isMycelError(err) ? err : new MycelError('INTERNAL');
      if (!isMycelError(err)) this.#deps.log.error({ err, sha256, peer: link.peerNodeId }, 'serving a blob over a node link failed');
      send({ t: 'blob-end', id, error: { code: e.code, message: e.message } });
    } finally {
      this.#outgoing.delete(k);
      if (out.stopped) (out.source as Readable | null)?.destroy?.();
    }
  }
}
