import type { Registry } from 'prom-client';
import type { FrozenConfig } from '../config/load.js';
import type { NodeCore } from '../domain/node-core.js';
import type { NetworkService } from '../network/network-service.js';
import type { ReadinessCheck } from '../lib/readiness.js';
import type { SseLinkEndpoint } from '../network/link-server.js';
import type { BlobFetching } from '../blobs/blob-fetcher.js';
import type { BlobStore } from '../blobs/blob-store.js';

/** What route plugins get: the node core and the few settings routes need. */
export interface HttpContext {
  readonly config: FrozenConfig;
  readonly core: NodeCore;
  readonly metrics: Registry;
  /** The node's public origin (scheme://host[:port]) for CSRF checks; known for sure once listening when server.port is 0. */
  readonly publicOrigin: () => string;
  /** True once the node has begun to shut down (signal received or app closing). */
  readonly isShuttingDown: () => boolean;
  /** Back-ends besides the database that /readyz asks (each names itself in a 503). */
  readonly readinessChecks: readonly ReadinessCheck[];
  /** The node network (links to servers and from client nodes); absent when the node runs without it. */
  readonly network?: NetworkService;
  /** The server side of node links over SSE; absent: those routes answer 503 NOT_READY. */
  readonly nodeLinks?: SseLinkEndpoint | undefined;
  /** The blob store; absent: the blob routes answer 503 NOT_READY. */
  readonly blobs?: BlobStore | undefined;
  /** Fetches a readable blob's missing bytes from another node (docs/blobs.md, "Between nodes"); absent: missing is BLOB_NOT_FOUND. */
  readonly blobFetcher?: BlobFetching | undefined;
}
