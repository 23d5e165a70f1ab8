import type { Registry } from 'prom-client';
import type { FrozenConfig } from '../config/load.js';
import type { NodeCore } from '../domain/node-core.js';
import type { ReadinessCheck } from '../lib/readiness.js';

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
}
