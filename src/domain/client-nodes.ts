import { ownerPasswordProblem } from '../config/secret-rules.js';
import { MycelError } from '../errors.js';
import { hashPassword } from '../lib/password.js';
import { NODE_DATA_ROLES, NODE_WRITE_ACCESS, type ClientNode, type NodeDataRole, type NodeWriteAccess } from '../model/content.js';
import type { Storage } from '../storage/storage.js';
import { hasOwnerRights, type Actor } from './actor.js';
import { parseChannelName } from './validation.js';

/** A client node as the owner sees it: everything but the password hash. */
export type ClientNodeView = Omit<ClientNode, 'passwordHash'>;

export interface NodeRegistration {
  nodeId: string;
  password: string;
  /** Default `child`: the usual client pulls from this node. */
  role?: NodeDataRole | undefined;
  /** Default false. */
  asOwner?: boolean | undefined;
  /** Default `read-only`: forwarded writes need an explicit grant. */
  writeAccess?: NodeWriteAccess | undefined;
  /** Default empty: every channel. */
  channels?: readonly string[] | undefined;
}

/** What `set` changes; absent fields stay as they are. */
export interface NodeChanges {
  role?: NodeDataRole | undefined;
  asOwner?: boolean | undefined;
  writeAccess?: NodeWriteAccess | undefined;
  channels?: readonly string[] | undefined;
  /** A new password; the node's sessions end with the old one. */
  password?: string | undefined;
}

export interface NodeUpdate {
  node: ClientNodeView;
  /** Sessions of the node ended by the change (a new password). */
  endedSessions: number;
}

/** Most channel patterns one node may be given; more is a mistake in the request, not a policy. */
export const MAX_NODE_CHANNEL_PATTERNS = 256;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAMESPACE_PATTERN_RE = /^([A-Za-z0-9_.\-$@#=+/~]+):\*$/;

function invalid(field: string, reason: string): MycelError {
  return new MycelError('VALIDATION_FAILED', { field, reason }, `${field}: ${reason}`);
}

/** A client node id: a UUID, kept in lower case so that every lookup (log-in, sessions) agrees. */
export function checkNodeId(value: unknown): string {
  if (typeof value !== 'string' || !UUID_RE.test(value)) throw invalid('nodeId', 'must be a UUID');
  return value.toLowerCase();
}

export function checkNodePassword(value: unknown): string {
  if (typeof value !== 'string') throw invalid('password', 'must be a string');
  // The same rule as the owner password: a node with owner rights is as strong as its password.
  const problem = ownerPasswordProblem(value);
  if (problem) throw invalid('password', problem);
  return value;
}

/** Channel permissions: channel names and `namespace:*` patterns, without repeats, in the given order. */
export function checkChannelPatterns(value: unknown): string[] {
  if (!Array.isArray(value)) throw invalid('channels', 'must be an array of channel names and `namespace:*` patterns');
  if (value.length > MAX_NODE_CHANNEL_PATTERNS) throw invalid('channels', `at most ${MAX_NODE_CHANNEL_PATTERNS} patterns`);
  const out: string[] = [];
  for (const item of value) {
    if (typeof item !== 'string') throw invalid('channels', 'every pattern must be a string');
    if (!NAMESPACE_PATTERN_RE.test(item)) {
      try {
        parseChannelName(item);
      } catch {
        throw invalid('channels', `${JSON.stringify(item.slice(0, 300))} is neither a channel name nor a \`namespace:*\` pattern`);
      }
    }
    if (!out.includes(item)) out.push(item);
  }
  return out;
}

/**
 * Whether a node's channel permissions cover `channelName`: an empty list covers every channel,
 * `ns:*` every channel of namespace `ns`, a name itself. The one rule for "may this node pull or
 * write this channel", for replication to use.
 */
export function channelPermitted(patterns: readonly string[], channelName: string): boolean {
  if (patterns.length === 0) return true;
  const i = channelName.indexOf(':');
  const namespace = i < 0 ? null : channelName.slice(0, i);
  return patterns.some((p) => p === channelName || (namespace !== null && p === `${namespace}:*`));
}

function checkRole(value: unknown): NodeDataRole {
  if (!NODE_DATA_ROLES.includes(value as NodeDataRole)) throw invalid('role', `must be one of ${NODE_DATA_ROLES.join(', ')}`);
  return value as NodeDataRole;
}

function checkWriteAccess(value: unknown): NodeWriteAccess {
  if (!NODE_WRITE_ACCESS.includes(value as NodeWriteAccess)) throw invalid('writeAccess', `must be one of ${NODE_WRITE_ACCESS.join(', ')}`);
  return value as NodeWriteAccess;
}

export function viewOf(node: ClientNode): ClientNodeView {
  const { passwordHash: _hidden, ...view } = node;
  return view;
}

/**
 * The record of the node configured as `owner.remoteNodeId`: owner rights, both data roles,
 * read-write, every channel, as it could do before roles existed.
 */
export function remoteOwnerNode(nodeId: string, passwordHash: string, now: number): ClientNode {
  return { id: nodeId, passwordHash, asOwner: true, role: 'both', writeAccess: 'read-write', channels: [], createdAt: now, updatedAt: now };
}

/**
 * The registry of client nodes: the nodes allowed to connect to this one, and what they may do.
 * Owner only. Registration is this node's own configuration, not replicated content, so none
 * of it goes through the Operator into the change log: it is written straight to storage, like
 * the owner password and sessions.
 */
export class ClientNodes {
  constructor(
    private readonly storage: Storage,
    private readonly clock: () => number = Date.now,
  ) {}

  private static checkOwner(actor: Actor): void {
    if (!hasOwnerRights(actor)) throw new MycelError('FORBIDDEN', { action: 'nodes', reason: 'owner only' });
  }

  /** Registers a node; NODE_EXISTS when its id is registered already. */
  async register(actor: Actor, input: NodeRegistration): Promise<ClientNodeView> {
    ClientNodes.checkOwner(actor);
    const id = checkNodeId(input.nodeId);
    const password = checkNodePassword(input.password);
    const fields = {
      role: input.role === undefined ? 'child' : checkRole(input.role),
      asOwner: input.asOwner === true,
      writeAccess: input.writeAccess === undefined ? 'read-only' : checkWriteAccess(input.writeAccess),
      channels: input.channels === undefined ? [] : checkChannelPatterns(input.channels),
    } as const;
    const now = this.clock();
    const node: ClientNode = { id, passwordHash: await hashPassword(password), ...fields, channels: [...fields.channels], createdAt: now, updatedAt: now };
    const inserted = await this.storage.transaction((tx) => tx.insertClientNode(node));
    if (!inserted) throw new MycelError('NODE_EXISTS', { nodeId: id });
    return viewOf(node);
  }

  async list(actor: Actor): Promise<ClientNodeView[]> {
    ClientNodes.checkOwner(actor);
    return (await this.storage.listClientNodes()).map(viewOf);
  }

  async get(actor: Actor, nodeId: string): Promise<ClientNodeView> {
    ClientNodes.checkOwner(actor);
    const id = checkNodeId(nodeId);
    const node = await this.storage.getClientNode(id);
    if (!node) throw new MycelError('NODE_NOT_FOUND', { nodeId: id });
    return viewOf(node);
  }

  /** Changes a node; a new password ends its sessions in the same transaction. */
  async set(actor: Actor, nodeId: string, changes: NodeChanges): Promise<NodeUpdate> {
    ClientNodes.checkOwner(actor);
    const id = checkNodeId(nodeId);
    const role = changes.role === undefined ? undefined : checkRole(changes.role);
    const writeAccess = changes.writeAccess === undefined ? undefined : checkWriteAccess(changes.writeAccess);
    const channels = changes.channels === undefined ? undefined : checkChannelPatterns(changes.channels);
    const passwordHash = changes.password === undefined ? undefined : await hashPassword(checkNodePassword(changes.password));
    return this.storage.transaction(async (tx) => {
      const current = await tx.getClientNode(id);
      if (!current) throw new MycelError('NODE_NOT_FOUND', { nodeId: id });
      const next: ClientNode = {
        ...current,
        ...(role !== undefined ? { role } : {}),
        ...(changes.asOwner !== undefined ? { asOwner: changes.asOwner } : {}),
        ...(writeAccess !== undefined ? { writeAccess } : {}),
        ...(channels !== undefined ? { channels } : {}),
        ...(passwordHash !== undefined ? { passwordHash } : {}),
        updatedAt: Math.max(this.clock(), current.updatedAt),
      };
      await tx.updateClientNode(next);
      const endedSessions = passwordHash !== undefined ? await tx.deleteNodeSessions(id) : 0;
      return { node: viewOf(next), endedSessions };
    });
  }

  /** Removes a node and ends its sessions; returns how many sessions ended. */
  async remove(actor: Actor, nodeId: string): Promise<{ endedSessions: number }> {
    ClientNodes.checkOwner(actor);
    const id = checkNodeId(nodeId);
    return this.storage.transaction(async (tx) => {
      await tx.deleteClientNode(id);
      return { endedSessions: await tx.deleteNodeSessions(id) };
    });
  }
}
