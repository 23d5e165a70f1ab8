import { isMycelError, MycelError } from '../errors.js';
import { constantTimeEqual, sha256Hex } from '../lib/hash.js';
import { randomToken } from '../lib/ids.js';
import { verifyPassword } from '../lib/password.js';
import type { Storage } from '../storage/storage.js';
import type { Actor } from './actor.js';

/**
 * A hash that no password matches (with the cost parameters of real ones), verified instead when
 * there is no hash to check against (no owner password, an unknown node), so timing does not tell.
 */
export const UNUSABLE_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export interface IssuedSession {
  /** The bearer token; only its sha256 is stored. */
  token: string;
  expiresAt: number;
}

/**
 * Owner log-in with the node's password: an expiring random session token. Tokens are 256-bit
 * random, so a fast hash is enough to store them; the password itself goes through scrypt.
 */
export class OwnerSessions {
  constructor(
    private readonly storage: Storage,
    private readonly sessionMinutes: number,
    private readonly clock: () => number = Date.now,
  ) {}

  async login(password: string): Promise<IssuedSession> {
    const node = await this.storage.getNode();
    if (!node) throw new MycelError('NODE_NOT_INITIALIZED');
    const ok = await verifyPassword(password, node.ownerPasswordHash ?? UNUSABLE_HASH);
    if (!ok || node.ownerPasswordHash === null) throw new MycelError('INVALID_CREDENTIALS');
    const token = randomToken(32);
    const now = this.clock();
    const expiresAt = now + this.sessionMinutes * 60_000;
    await this.storage.transaction(async (tx) => {
      await tx.deleteExpiredSessions(now);
      await tx.insertSession({ tokenHash: sha256Hex(token), subjectKind: 'owner', subjectId: node.id, createdAt: now, expiresAt });
    });
    return { token, expiresAt };
  }

  /** The actor a token stands for; throws UNAUTHENTICATED / SESSION_EXPIRED otherwise. */
  async authenticate(token: string): Promise<Actor> {
    const tokenHash = sha256Hex(token);
    const session = await this.storage.getSession(tokenHash);
    // The lookup is by hash, so the comparison below is a belt-and-braces constant-time check.
    if (!session || !constantTimeEqual(session.tokenHash, tokenHash)) throw new MycelError('UNAUTHENTICATED');
    if (session.expiresAt <= this.clock()) throw new MycelError('SESSION_EXPIRED');
    if (session.subjectKind === 'owner') return { kind: 'owner' };
    const client = await this.storage.getClientNode(session.subjectId);
    if (!client) throw new MycelError('UNAUTHENTICATED');
    return { kind: 'node', nodeId: client.id, asOwner: client.asOwner };
  }

  /**
   * The one rule for a bearer of a session token: the actor, or null when the token is no
   * session of this node (it may be another kind of token, for another resolver). An expired
   * session is not null: it throws SESSION_EXPIRED, so each adapter can tell the client so in
   * its own protocol.
   */
  async resolve(token: string): Promise<Actor | null> {
    try {
      return await this.authenticate(token);
    } catch (err) {
      if (isMycelError(err) && err.code === 'UNAUTHENTICATED') return null;
      throw err;
    }
  }

  async logout(token: string): Promise<void> {
    await this.storage.transaction((tx) => tx.deleteSession(sha256Hex(token)));
  }
}
