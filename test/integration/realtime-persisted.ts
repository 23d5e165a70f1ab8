/**
 * A realtime server whose persisted namespaces write through the real domain (the setup of
 * realtime-persist.test.ts and of the server API's persisted tests): a node core on a fresh
 * storage, a memory back-end, and the domain persistence attached to the server's node, wired
 * by the node assembly (src/node/assemble.ts) as `mycel serve` wires them.
 */
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import { domainPersistence, openCoreFromConfig } from '../../src/node/assemble.js';
import type { DomainPersistence } from '../../src/realtime/domain-persist.js';
import { Namespaces } from '../../src/realtime/namespaces.js';
import type { RealtimeNode } from '../../src/realtime/realtime-node.js';
import { silentLog } from '../helpers/core.js';
import { realtimeBackends, type RealtimeBackendInstance } from '../helpers/realtime-backends.js';
import type { StorageBackend } from '../helpers/storage.js';
import { realtimeConfig } from './realtime-harness.js';

const memory = realtimeBackends.find((f) => f.name === 'memory')!;

export interface PersistedRealtime<S> {
  readonly core: NodeCore;
  readonly server: S;
  /** Detaches persistence, then closes the server, the back-end, the core and the storage. */
  close(): Promise<void>;
}

/**
 * Starts the server that `start` makes on a memory back-end with `persist`, persisting the
 * namespaces of `realtime` into a new database of `storage`.
 */
export async function startPersisted<S extends { readonly node: RealtimeNode; close(): Promise<void> }>(
  storage: StorageBackend,
  realtime: ConfigInput['realtime'],
  start: (backend: RealtimeBackendInstance, persist: DomainPersistence) => Promise<S>,
): Promise<PersistedRealtime<S>> {
  const closers: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    for (const fn of closers.splice(0).reverse()) await fn();
  };
  try {
    const handle = await storage.create();
    closers.push(() => handle.cleanup());
    // The node's wiring as `mycel serve` does it: one Namespaces for the core's channel policy
    // and for persistence, the core opened from config (on the test storage).
    const config = configSchema.parse({ node: { name: 'test-node' }, owner: { password: 'owner-secret' }, realtime: realtimeConfig(realtime) });
    const namespaces = new Namespaces(config.realtime);
    const core = await openCoreFromConfig(config, silentLog, { storage: handle.storage, namespaces });
    closers.push(() => core.close());
    const backend = await memory.create();
    closers.push(() => backend.cleanup());
    const persistence = domainPersistence(core, namespaces);
    const server = await start(backend, persistence);
    closers.push(() => server.close());
    closers.push(persistence.attach(server.node));
    return { core, server, close };
  } catch (err) {
    await close();
    throw err;
  }
}
