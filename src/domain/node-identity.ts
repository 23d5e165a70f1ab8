import { hostname } from 'node:os';
import { MycelError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { hashPassword, verifyPassword } from '../lib/password.js';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/storage.js';
import type { NodeRecord } from '../model/content.js';
import { remoteOwnerNode } from './client-nodes.js';

export interface IdentityOptions {
  /** Id for a new node (node.id); default: a new UUIDv7. Once the node exists, another id is CONFIG_INVALID. */
  id?: string | undefined;
  /** Name for a new node; default: the host name. Ignored once the node exists. */
  name?: string | undefined;
  ownerPassword?: string | undefined;
  /** A remote node that gets owner rights here; its password is set once, never overwritten. */
  remoteOwner?: { nodeId: string; password: string } | undefined;
}

export interface IdentityResult {
  node: NodeRecord;
  created: boolean;
}

/**
 * Creates the node on first start, or checks the configured identity against the stored one:
 * a different name is ignored (and logged); a configured owner password must match the stored
 * one, else start-up stops with OWNER_PASSWORD_MISMATCH.
 */
export async function ensureNodeIdentity(storage: Storage, options: IdentityOptions, log: Logger): Promise<IdentityResult> {
  const passwordHash = options.ownerPassword === undefined ? null : await hashPassword(options.ownerPassword);
  const remoteHash = options.remoteOwner ? await hashPassword(options.remoteOwner.password) : null;

  const result = await storage.transaction(async (tx): Promise<IdentityResult & { passwordSet: boolean }> => {
    const existing = await tx.getNode();
    if (!existing) {
      const node: NodeRecord = { id: options.id?.toLowerCase() ?? newId(), name: options.name ?? hostname(), createdAt: Date.now(), ownerPasswordHash: passwordHash };
      await tx.insertNode(node);
      return { node, created: true, passwordSet: passwordHash !== null };
    }
    if (existing.ownerPasswordHash === null && passwordHash !== null) {
      await tx.setOwnerPasswordHash(passwordHash);
      return { node: { ...existing, ownerPasswordHash: passwordHash }, created: false, passwordSet: true };
    }
    return { node: existing, created: false, passwordSet: false };
  });

  const { node } = result;
  if (options.id !== undefined && options.id.toLowerCase() !== node.id) {
    throw new MycelError('CONFIG_INVALID', { key: 'node.id', nodeId: node.id }, `node.id is ${options.id}, but this data directory holds node ${node.id} (an id is given once, when the node is created)`);
  }
  if (result.created) log.info({ nodeId: node.id, name: node.name }, 'created node');
  else if (options.name !== undefined && options.name !== node.name) {
    log.info({ nodeId: node.id, storedName: node.name, configuredName: options.name }, 'node exists; ignoring the configured name');
  }
  if (result.passwordSet) log.info({ nodeId: node.id }, 'owner password set');
  else if (options.ownerPassword !== undefined && node.ownerPasswordHash !== null) {
    if (!(await verifyPassword(options.ownerPassword, node.ownerPasswordHash))) {
      throw new MycelError('OWNER_PASSWORD_MISMATCH', { nodeId: node.id });
    }
  }
  if (node.ownerPasswordHash === null) {
    log.warn({ nodeId: node.id }, 'no owner password is set: owner login is disabled until MYCEL_OWNER_PASSWORD (owner.password) is configured');
  }

  if (options.remoteOwner && remoteHash) {
    const { nodeId } = options.remoteOwner;
    const inserted = await storage.transaction((tx) =>
      tx.insertClientNode(remoteOwnerNode(nodeId, remoteHash, Date.now())),
    );
    if (inserted) log.info({ remoteNodeId: nodeId }, 'registered remote owner node');
  }
  return { node, created: result.created };
}
