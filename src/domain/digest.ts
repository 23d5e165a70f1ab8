import { createHash } from 'node:crypto';
import { canonicalJson } from '../lib/canonical-json.js';
import { sha256Hex } from '../lib/hash.js';
import { CONTENT_KINDS, OPTIONAL_CONTENT_KINDS, SCAN_PAGE_SIZE, walkContent, type ContentKind, type ContentReader } from './replicated-content.js';

/** One kind's part of the digest. */
export interface KindDigest {
  count: number;
  /** `sha256:<hex>` over the kind's records in id order, each canonical JSON and a newline. */
  digest: string;
}

/**
 * A canonical digest of a node's replicated content (replicated-content.ts): two nodes
 * holding the same channels, posts and links have the same `digest`, whichever database they
 * use. Per-kind counts and digests say which kind differs when the totals do not.
 */
export interface ContentDigest {
  /** `sha256:<hex>` over the canonical JSON of the kind digests. */
  digest: string;
  channels: KindDigest;
  posts: KindDigest;
  links: KindDigest;
  /** Compute kinds: present only when the node holds some (so a node without compute keeps its digest). */
  computeProjects?: KindDigest;
  computeClients?: KindDigest;
  computeJobs?: KindDigest;
  computeTasks?: KindDigest;
}

/** Hashes one kind as it streams past: memory stays one page however large the table. */
async function kindDigest(reader: ContentReader, kind: ContentKind, pageSize: number): Promise<KindDigest> {
  const hash = createHash('sha256');
  let count = 0;
  for await (const record of walkContent(reader, kind, pageSize)) {
    hash.update(canonicalJson(record));
    hash.update('\n');
    count++;
  }
  return { count, digest: `sha256:${hash.digest('hex')}` };
}

/** Computes the content digest of the tables `reader` reads. */
export async function contentDigest(reader: ContentReader, options: { pageSize?: number } = {}): Promise<ContentDigest> {
  const pageSize = options.pageSize ?? SCAN_PAGE_SIZE;
  const kinds = {} as Record<ContentKind, KindDigest>;
  for (const kind of CONTENT_KINDS) {
    const d = await kindDigest(reader, kind, pageSize);
    if (d.count > 0 || !OPTIONAL_CONTENT_KINDS.has(kind)) kinds[kind] = d;
  }
  return { digest: `sha256:${sha256Hex(canonicalJson(kinds))}`, ...kinds } as ContentDigest;
}

/** The one-line form: `sha256:<hex> channels=N posts=N links=N` (and compute kinds when held). */
export function formatDigest(d: ContentDigest): string {
  return `${d.digest} ${CONTENT_KINDS.flatMap((kind) => (d[kind] ? [`${kind}=${d[kind].count}`] : [])).join(' ')}`;
}
