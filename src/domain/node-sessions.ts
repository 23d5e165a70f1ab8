import { MycelError } from '../errors.js';
import { sha256Hex } from '../lib/hash.js';
import { randomToken } from '../lib/ids.js';
import { verifyPassword } from '../lib/password.js';
import type { Storage } from '../storage/storage.js';
import { checkNodeId } from './client-nodes.js';
import { UNUSABLE_HASH, type IssuedSession } from './owner-sessions.js';

/**
 * Log-in of a registered client node with its id and password: an expiring session token,
 * stored like an owner's (sha256 of a 256-bit random token) and resolved by the same rule
 * (`OwnerSessions.resolve`) into a `node` actor. An unknown or malformed id costs the same
 * scrypt as a wrong password and answers the same INVALID_CREDENTIALS, so neither the answer
 * nor its timing tells which node ids exist.
 */
export class NodeSessions {
  constructor(
    private readonly storage: Storage,
    private readonly sessionMinutes: number,
    private readonly clock: () => number = Date.now,
  ) {}

  async login(nodeId: string, password: string): Promise<IssuedSession> {
    let id: string | null = null;
    try {
      id = checkNodeId(nodeId);
    } catch {
      // Not a UUID: certainly unknown, and answered like any unknown id.
    }
    const node = id === null ? null : await this.storage.getClientNode(id);
    const ok = await verifyPassword(password, node?.passwordHash ?? UNUSABLE_HASH);
    if (!ok || !node) throw new MycelError('INVALID_CREDENTIALS');
    const token = randomToken(32);
    const now = this.clock();
    const expiresAt = now + this.sessionMinutes * 60_000;
    await this.storage.transaction(async (tx) => {
      await tx.deleteExpiredSessions(now);
      // Removed between the check and now: no session for a node that is gone.
      if (!(await tx.getClientNode(node.id))) throw new MycelError('INVALID_CREDENTIALS');
      await tx.insertSession({ tokenHash: sha256Hex(token), subjectKind: 'node', subjectId: node.id, createdAt: now, expiresAt });
    });
    return { token, expiresAt };
  }
}
