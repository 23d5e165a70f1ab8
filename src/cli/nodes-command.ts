import { resolveDataDir, type Config } from '../config/index.js';
import { OWNER } from '../domain/actor.js';
import { MycelError } from '../errors.js';
import { checkNodeId, ClientNodes, type ClientNodeView, type NodeChanges, type NodeRegistration } from '../domain/client-nodes.js';
import { createStorage } from '../storage/index.js';
import { assertNodeExists } from '../storage/node-presence.js';
import type { NodeClient } from './node-client.js';
import type { PasswordInput } from './password-input.js';

/**
 * `mycel nodes add|list|set|remove`: the client nodes allowed to connect. Locally they are
 * managed in the node's database directly, beside a running `mycel serve` or without one (the
 * server reads the registry at each log-in and request); opening the database is owner
 * access, as for `mycel owner set-password --recover`, so these act as the owner. With
 * `--node URL` the same goes to that node's REST API (/api/v1/nodes).
 */
export interface NodeRegistry {
  /** Whether the id is registered (to refuse a taken id before asking for a password). */
  has(nodeId: string): Promise<boolean>;
  register(input: NodeRegistration): Promise<ClientNodeView>;
  list(): Promise<ClientNodeView[]>;
  get(nodeId: string): Promise<ClientNodeView>;
  /** `endedSessions` is null where the count is not known (over REST). */
  set(nodeId: string, changes: NodeChanges): Promise<{ node: ClientNodeView; endedSessions: number | null }>;
  remove(nodeId: string): Promise<{ endedSessions: number | null }>;
}

/** Runs `work` on a registry: the local database's, or a remote node's. */
export type RegistryRun = <T>(work: (nodes: NodeRegistry) => Promise<T>) => Promise<T>;

/** The local node's registry, in its database. */
export function localRegistry(config: Config): RegistryRun {
  return async (work) => {
    const dataDir = resolveDataDir(config);
    await assertNodeExists({ url: config.database.url, dataDir });
    const storage = createStorage({ url: config.database.url, dataDir });
    try {
      await storage.migrate();
      const nodes = new ClientNodes(storage);
      return await work({
        has: async (nodeId) => (await storage.getClientNode(checkNodeId(nodeId))) !== null,
        register: (input) => nodes.register(OWNER, input),
        list: () => nodes.list(OWNER),
        get: (nodeId) => nodes.get(OWNER, nodeId),
        set: (nodeId, changes) => nodes.set(OWNER, nodeId, changes),
        remove: (nodeId) => nodes.remove(OWNER, nodeId),
      });
    } finally {
      await storage.close();
    }
  };
}

const definedOnly = <T extends object>(value: T): Partial<T> => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;

/** A remote node's registry over REST, as whoever the client logged in as (the owner, or an owner node). */
export function remoteRegistry(client: NodeClient): NodeRegistry {
  const path = (nodeId: string) => `/api/v1/nodes/${encodeURIComponent(checkNodeId(nodeId))}`;
  return {
    async has(nodeId) {
      try {
        await client.get(path(nodeId));
        return true;
      } catch (err) {
        if (err instanceof MycelError && err.code === 'NODE_NOT_FOUND') return false;
        throw err;
      }
    },
    register: (input) => client.request('POST', '/api/v1/nodes', definedOnly({ ...input, channels: input.channels ? [...input.channels] : undefined })),
    list: async () => (await client.get<{ items: ClientNodeView[] }>('/api/v1/nodes')).items,
    get: (nodeId) => client.get(path(nodeId)),
    set: async (nodeId, changes) => ({
      node: await client.request<ClientNodeView>('PATCH', path(nodeId), definedOnly({ ...changes, channels: changes.channels ? [...changes.channels] : undefined })),
      endedSessions: null,
    }),
    remove: async (nodeId) => {
      await client.request('DELETE', path(nodeId));
      return { endedSessions: null };
    },
  };
}

function describeNode(n: ClientNodeView): string {
  const channels = n.channels.length === 0 ? 'all channels' : `channels ${n.channels.join(',')}`;
  return `role ${n.role}, ${n.writeAccess}, ${n.asOwner ? 'owner rights' : 'no owner rights'}, ${channels}`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const ended = (count: number | null): string => (count === null ? 'its sessions ended' : `${plural(count, 'session')} ended`);

export async function runNodesAdd(run: RegistryRun, input: Omit<NodeRegistration, 'password'>, passwords: PasswordInput): Promise<void> {
  const node = await run(async (nodes) => {
    // Refuse a bad or taken id before asking for a password that would be thrown away.
    const id = checkNodeId(input.nodeId);
    if (await nodes.has(id)) throw new MycelError('NODE_EXISTS', { nodeId: id });
    const password = await passwords.readNew('Password of the node: ');
    return nodes.register({ ...input, password });
  });
  process.stdout.write(`registered node ${node.id}: ${describeNode(node)}\n`);
}

export async function runNodesList(run: RegistryRun, json: boolean): Promise<void> {
  const list = await run((nodes) => nodes.list());
  if (json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return;
  }
  if (list.length === 0) {
    process.stdout.write('no client nodes registered\n');
    return;
  }
  const rows = [
    ['ID', 'ROLE', 'ACCESS', 'OWNER', 'CHANNELS', 'REGISTERED'],
    ...list.map((n) => [n.id, n.role, n.writeAccess, n.asOwner ? 'yes' : 'no', n.channels.length === 0 ? '*' : n.channels.join(','), new Date(n.createdAt).toISOString()]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
}

export async function runNodesSet(run: RegistryRun, nodeId: string, changes: Omit<NodeChanges, 'password'>, passwords: PasswordInput | null): Promise<void> {
  let password: string | undefined;
  const { node, endedSessions } = await run(async (nodes) => {
    await nodes.get(nodeId);
    password = passwords ? await passwords.readNew('New password of the node: ') : undefined;
    return nodes.set(nodeId, { ...changes, password });
  });
  process.stdout.write(`changed node ${node.id}: ${describeNode(node)}${password === undefined ? '' : `; ${ended(endedSessions)}`}\n`);
}

export async function runNodesRemove(run: RegistryRun, nodeId: string): Promise<void> {
  const { endedSessions } = await run((nodes) => nodes.remove(nodeId));
  process.stdout.write(`removed node ${nodeId.toLowerCase()}; ${ended(endedSessions)}\n`);
}
