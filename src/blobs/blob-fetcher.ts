/**
 * Fetching blob bytes this node has heard of (a `blob.stored` record or a post referring to the
 * blob came by replication) but does not hold: from another node, through a `BlobSource` the
 * assembly builds from the node network's server entries (this folder imports no network code).
 * The bytes are verified while they are stored (`put` with the expected sha256): a source that
 * sends other bytes leaves nothing behind and the fetch fails with BLOB_HASH_MISMATCH.
 *
 * Two triggers: on first read (the HTTP GET route asks `fetchMissing` when the store lacks the
 * bytes), and eagerly for posts in `blobs.eagerChannels` (`watchEagerChannels`, on the commit
 * hook). Concurrent fetches of one blob share one transfer.
 */
import type { CommitHook } from '../domain/commit-hook.js';
import { isMycelError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Change } from '../model/content.js';

/** The bytes of the blob with this sha256 (hex) from some other node, or null when it has none. */
export type BlobSource = (sha256: string) => Promise<NodeJS.ReadableStream | null>;

/** What the HTTP GET route needs: bring missing bytes in, if any source has them. */
export interface BlobFetching {
  /** True when the bytes are now in the store; false when no source had them. BLOB_HASH_MISMATCH when a source sent other bytes. */
  fetchMissing(sha256: string): Promise<boolean>;
}

export interface BlobFetcherDeps {
  /** The parts of the BlobStore (blob-store.ts) a fetch uses. */
  store: {
    has(sha256: string): Promise<boolean>;
    put(source: NodeJS.ReadableStream, options: { maxBytes?: number; expect: { algo: 'sha256'; hex: string } }): Promise<{ size: number }>;
  };
  source: BlobSource;
  log: Logger;
  /** Largest blob accepted from a source (blobs.maxUploadBytes). */
  maxBytes?: number;
}

export class BlobFetcher implements BlobFetching {
  readonly #deps: BlobFetcherDeps;
  readonly #inFlight = new Map<string, Promise<boolean>>();

  constructor(deps: BlobFetcherDeps) {
    this.#deps = deps;
  }

  fetchMissing(sha256: string): Promise<boolean> {
    const hex = sha256.toLowerCase();
    let pending = this.#inFlight.get(hex);
    if (!pending) {
      pending = this.#fetch(hex).finally(() => this.#inFlight.delete(hex));
      this.#inFlight.set(hex, pending);
    }
    return pending;
  }

  /** Fetches in the background; a failure is logged (the next read tries again). */
  prefetch(sha256: string): void {
    this.fetchMissing(sha256).then(
      (found) => {
        if (!found) this.#deps.log.info({ sha256 }, 'no server has the blob yet; it is fetched on first read');
      },
      (err: unknown) => this.#deps.log.warn({ sha256, code: isMycelError(err) ? err.code : undefined, err: isMycelError(err) ? undefined : err }, 'eager blob fetch failed; it is tried again on first read'),
    );
  }

  async #fetch(hex: string): Promise<boolean> {
    const { store, source, log, maxBytes } = this.#deps;
    if (await store.has(hex)) return true;
    const stream = await source(hex);
    if (stream === null) return false;
    const stored = await store.put(stream, { expect: { algo: 'sha256', hex }, ...(maxBytes === undefined ? {} : { maxBytes }) });
    log.info({ sha256: hex, size: stored.size }, 'blob fetched from another node');
    return true;
  }
}

const SHA256_URI_RE = /sha256:(?:\/\/)?([0-9a-fA-F]{64})(?![0-9a-fA-F])/g;

/** The sha256 hex digests of the `sha256://` URIs in a text (a post's body and its meta as JSON). */
export function sha256RefsIn(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(SHA256_URI_RE)) out.add(m[1]!.toLowerCase());
  return [...out];
}

/** blobs.eagerChannels as one test: `*` in a pattern matches any run of characters, the rest literally. */
export function channelGlob(patterns: readonly string[]): (channelName: string) => boolean {
  const res = patterns.map((p) => new RegExp(`^${p.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
  return (name) => res.some((re) => re.test(name));
}

/** The blobs a committed change makes this node want eagerly: a post created in a matching channel. */
function eagerRefsOf(change: Change, matches: (channelName: string) => boolean): string[] {
  if (change.type !== 'post.created') return [];
  const payload = change.payload as { post?: { body?: unknown; meta?: unknown; blobRefs?: unknown; deleted?: unknown }; channelName?: unknown };
  const post = payload.post;
  if (!post || post.deleted === true || typeof payload.channelName !== 'string' || !matches(payload.channelName)) return [];
  // The post's blobRefs (what access and GC go by), and URIs written into its body or meta.
  const refs = Array.isArray(post.blobRefs) ? post.blobRefs.filter((r): r is string => typeof r === 'string').join('\n') : '';
  return sha256RefsIn(`${refs}\n${typeof post.body === 'string' ? post.body : ''}\n${JSON.stringify(post.meta ?? null)}`);
}

/**
 * Fetches, as soon as their post is committed here, the blobs referred to by posts in channels
 * matching `patterns` (blobs.eagerChannels; none → nothing is watched). Returns the detach function.
 */
export function watchEagerChannels(hook: CommitHook, fetcher: BlobFetcher, patterns: readonly string[]): () => void {
  if (patterns.length === 0) return () => {};
  const matches = channelGlob(patterns);
  return hook.on((changes) => {
    for (const change of changes) {
      for (const hex of eagerRefsOf(change, matches)) fetcher.prefetch(hex);
    }
  });
}
