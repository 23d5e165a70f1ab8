import { ownerPasswordProblem } from '../config/secret-rules.js';
import { MycelError } from '../errors.js';
import { hashPassword, verifyPassword } from '../lib/password.js';
import type { Storage } from '../storage/storage.js';

/** How the caller proves it may change the owner password. */
export type OwnerPasswordAuthority =
  /** The current password (not needed while none is set). */
  | { kind: 'current'; password: string | undefined }
  /**
   * Recovery: the caller opened the node's database directly (data directory or database
   * URL), which already lets it change anything, so no password is asked for.
   */
  | { kind: 'database-access' };

export interface OwnerPasswordChange {
  /** Owner sessions that were open and are now ended. */
  endedSessions: number;
}

/**
 * Sets a new owner password and ends every owner session, in one transaction: whoever held
 * a session under the old password must log in again. Throws VALIDATION_FAILED for a new
 * password under the minimum, INVALID_CREDENTIALS for a wrong current one.
 */
export async function changeOwnerPassword(storage: Storage, authority: OwnerPasswordAuthority, next: string): Promise<OwnerPasswordChange> {
  const problem = ownerPasswordProblem(next);
  if (problem) throw new MycelError('VALIDATION_FAILED', { field: 'newPassword' }, `The new owner password ${problem}`);
  const node = await storage.getNode();
  if (!node) throw new MycelError('NODE_NOT_INITIALIZED');
  if (authority.kind === 'current' && node.ownerPasswordHash !== null) {
    const ok = authority.password !== undefined && (await verifyPassword(authority.password, node.ownerPasswordHash));
    if (!ok) throw new MycelError('INVALID_CREDENTIALS', undefined, 'The current owner password is not correct');
  }
  const hash = await hashPassword(next);
  const endedSessions = await storage.transaction(async (tx) => {
    await tx.setOwnerPasswordHash(hash);
    return tx.deleteOwnerSessions();
  });
  return { endedSessions };
}
