/** Helpers for node network tests: in-process nodes on loopback, waiting on status and content. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import { OWNER } from '../../src/domain/actor.js';
import { contentDigest } from '../../src/domain/digest.js';
import type { LinkStatus } from '../../src/network/network-service.js';
import { startNode, type RunningNode } from '../../src/node/assemble.js';
import { silentLog } from './core.js';

export const OWNER_PASSWORD = 'network-owner-pw';
export const NODE_PASSWORD = 'network-node-pw';

export interface TestNode {
  node: RunningNode;
  dir: string;
  close(): Promise<void>;
}

/** Starts a node in process (the assembly `mycel serve` uses) on port 0 in a temp dir. */
export async function startTestNode(name: string, extra: ConfigInput = {}): Promise<TestNode> {
  const dir = mkdtempSync(join(tmpdir(), `mycel-net-${name}-`));
  const config = configSchema.parse({
    ...extra,
    node: { name, dataDir: dir, ...(extra.node ?? {}) },
    owner: { password: OWNER_PASSWORD },
    server: { host: '127.0.0.1', port: 0, shutdownGraceSeconds: 1, ...(extra.server ?? {}) },
  });
  const node = await startNode(config, silentLog);
  return {
    node,
    dir,
    async close() {
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Registers `client` at `server` as a client node with `role` (and channel patterns). */
export async function register(server: RunningNode, client: RunningNode, role: 'child' | 'parent' | 'both' = 'child', channels?: string[]): Promise<void> {
  await server.core.clientNodes.register(OWNER, { nodeId: client.core.node.id, password: NODE_PASSWORD, role, ...(channels ? { channels } : {}) });
}

/**
 * Polls `check` every `everyMs` until it returns a value other than undefined; fails after `ms`
 * naming `what` and the last error `check` threw. The one poller of the network tests (in
 * process, and over REST in test/helpers/network-process.ts).
 */
export async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, ms = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function digestOf(node: RunningNode): Promise<string> {
  return (await contentDigest(node.core.storage)).digest;
}

/** Waits until both nodes hold the same content (and at least `minPosts` posts on `b`). */
export async function converged(a: RunningNode, b: RunningNode, minPosts = 0, ms = 30_000): Promise<string> {
  return until(`${a.core.node.name} and ${b.core.node.name} to converge`, async () => {
    const [da, db] = await Promise.all([contentDigest(a.core.storage), contentDigest(b.core.storage)]);
    return da.digest === db.digest && db.posts.count >= minPosts ? da.digest : undefined;
  }, ms);
}

/** The status of the only server entry of `node`. */
export function serverStatus(node: RunningNode): LinkStatus {
  const [status] = node.network.status().servers;
  if (!status) throw new Error('no server entry');
  return status;
}
