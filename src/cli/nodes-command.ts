import { resolveDataDir, type Config } from '../config/index.js';
import { OWNER } from '../domain/actor.js';
import { MycelError } from '../errors.js';
import { checkNodeId, ClientNodes, type ClientNodeView, type NodeChanges, type NodeRegistration } from '../domain/client-nodes.js';
import type { Storage } from '../storage/storage.js';
import { createStorage } from '../storage/index.js';
import { assertNodeExists } from '../storage/node-presence.js';
import type { PasswordInput } from './password-input.js';

/**
 * `mycel nodes …`: the client nodes allowed to connect, managed in the node's database
 * directly, beside a running `mycel serve` or without one (the server reads the registry at
 * each log-in and request). Opening the database is owner access, as for
 * `mycel owner set-password --recover`, so these act as the owner.
 */
async function withRegistry<T>(config: Config, work: (nodes: ClientNodes, storage: Storage) => Promise<T>): Promise<T> {
  const dataDir = resolveDataDir(config);
  await assertNodeExists({ url: config.database.url, dataDir });
  const storage = createStorage({ url: config.database.url, dataDir });
  try {
    await storage.migrate();
    return await work(new ClientNodes(storage), storage);
  } finally {
    await storage.close();
  }
}

function describeNode(n: ClientNodeView): string {
  const channels = n.channels.length === 0 ? 'all channels' : `channels ${n.channels.join(',')}`;
  return `role ${n.role}, ${n.writeAccess}, ${n.asOwner ? 'owner rights' : 'no owner rights'}, ${channels}`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export async function runNodesAdd(config: Config, input: Omit<NodeRegistration, 'password'>, passwords: PasswordInput): Promise<void> {
  const node = await withRegistry(config, async (nodes, storage) => {
    // Refuse a bad or taken id before asking for a password that would be thrown away.
    const id = checkNodeId(input.nodeId);
    if (await storage.getClientNode(id)) throw new MycelError('NODE_EXISTS', { nodeId: id });
    const password = await passwords.readNew('Password of the node: ');
    return nodes.register(OWNER, { ...input, password });
  });
  process.stdout.write(`registered node ${node.id}: ${describeNode(node)}\n`);
}

export async function runNodesList(config: Config, json: boolean): Promise<void> {
  const list = await withRegistry(config, (nodes) => nodes.list(OWNER));
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

export async function runNodesSet(config: Config, nodeId: string, changes: Omit<NodeChanges, 'password'>, passwords: PasswordInput | null): Promise<void> {
  let password: string | undefined;
  const { node, endedSessions } = await withRegistry(config, async (nodes) => {
    await nodes.get(OWNER, nodeId);
    password = passwords ? await passwords.readNew('New password of the node: ') : undefined;
    return nodes.set(OWNER, nodeId, { ...changes, password });
  });
  const ended = password === undefined ? '' : `; ${plural(endedSessions, 'session')} ended`;
  process.stdout.write(`changed node ${node.id}: ${describeNode(node)}${ended}\n`);
}

export async function runNodesRemove(config: Config, nodeId: string): Promise<void> {
  const { endedSessions } = await withRegistry(config, (nodes) => nodes.remove(OWNER, nodeId));
  process.stdout.write(`removed node ${nodeId.toLowerCase()}; ${plural(endedSessions, 'session')} ended\n`);
}
