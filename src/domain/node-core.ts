import type { Logger } from '../log.js';
import type { Storage, StorageReader } from '../storage/storage.js';
import { ClientNodes } from './client-nodes.js';
import { CommitHook } from './commit-hook.js';
import { ComputeClients } from './compute-clients.js';
import { ComputeProjects } from './compute-projects.js';
import { ComputeQueue } from './compute-queue.js';
import { ensureNodeIdentity, type IdentityOptions } from './node-identity.js';
import { NetworkServers } from './network-servers.js';
import { Operator } from './operator.js';
import type { ChannelPolicy } from './permissions.js';
import { NodeSessions } from './node-sessions.js';
import { OwnerSessions } from './owner-sessions.js';
import { ReplicationImport } from './replication.js';
import type { NodeRecord } from '../model/content.js';
import { Writer } from './writer.js';

/**
 * What the layers above the domain may read of the database: every read, which dialect it is,
 * and the wake-up after each commit that appended to the change log (all instances on
 * PostgreSQL). Nothing here writes; writes are the Operator's operations, through the one Writer.
 */
export type NodeStorageReader = StorageReader & Pick<Storage, 'dialect' | 'onLogAdvance'>;

/**
 * The transport-free heart of a node: identity, reads, the write path's operations and its
 * after-commit hook. It hands out no Storage and no Writer, so nothing above the domain can
 * write around the Operator (and its permissions, validation and change log).
 */
export interface NodeCore {
  readonly storage: NodeStorageReader;
  readonly node: NodeRecord;
  readonly hook: CommitHook;
  readonly operator: Operator;
  readonly sessions: OwnerSessions;
  /** Log-in of registered client nodes; their tokens resolve through `sessions`. */
  readonly nodeSessions: NodeSessions;
  /** The registry of client nodes (owner only; not in the change log). */
  readonly clientNodes: ClientNodes;
  /** Imports other nodes' change logs through the Writer (docs/network.md, Applying changes). */
  readonly replication: ReplicationImport;
  /** Servers added at run time that this node connects to (not in the change log). */
  readonly networkServers: NetworkServers;
  /** Federated compute, node side (docs/compute.md "Node side"): projects, clients, the job queue. */
  readonly compute: NodeCompute;
  /** Lets queued writes commit, then closes storage. */
  close(): Promise<void>;
}

/** The compute domain of a node; the compute service and the routes drive it. */
export interface NodeCompute {
  readonly projects: ComputeProjects;
  readonly clients: ComputeClients;
  readonly queue: ComputeQueue;
}

export interface NodeCoreOptions {
  identity: IdentityOptions;
  /** Which channels application users may read and write; default: all. */
  channelPolicy?: ChannelPolicy;
  sessionMinutes: number;
  log: Logger;
  /** The write path's clock (tests move time; default Date.now). */
  clock?: () => number;
}

/** Migrates the database, creates or checks the node identity, and wires the write path. */
export async function openNodeCore(storage: Storage, options: NodeCoreOptions): Promise<NodeCore> {
  const { log } = options;
  const report = await storage.migrate();
  if (report.applied.length > 0) log.info({ from: report.from, to: report.to }, 'migrated database schema');
  const { node } = await ensureNodeIdentity(storage, options.identity, log);
  const hook = new CommitHook((err) => log.error({ err }, 'commit listener failed'));
  const writer = new Writer(storage, node.id, hook, options.clock ? { clock: options.clock } : {});
  const operator = new Operator(storage, writer, options.channelPolicy);
  const sessions = new OwnerSessions(storage, options.sessionMinutes);
  const nodeSessions = new NodeSessions(storage, options.sessionMinutes);
  const clientNodes = new ClientNodes(storage);
  const replication = new ReplicationImport(storage, writer);
  const networkServers = new NetworkServers(storage);
  const projects = new ComputeProjects(storage, writer, node.id);
  const compute: NodeCompute = {
    projects,
    clients: new ComputeClients(storage, writer, projects, node.id, undefined, options.clock),
    queue: new ComputeQueue(storage, writer, hook, projects, node.id, options.clock ? { clock: options.clock } : {}),
  };
  let closed = false;
  return {
    storage,
    node,
    hook,
    operator,
    sessions,
    nodeSessions,
    clientNodes,
    replication,
    networkServers,
    compute,
    async close() {
      if (closed) return;
      closed = true;
      compute.queue.close();
      await writer.close();
      await storage.close();
    },
  };
}
