/** Who is asking: every domain operation takes one, whatever transport it came through. */
export type Actor =
  | { kind: 'owner' }
  /**
   * Another node, logged in with its id and password; `asOwner` nodes have the owner's rights.
   * `writes` is set only on a forwarded write whose registration was checked (read-write, the
   * channel within its permissions, Operator.executeForwarded): then the node may create posts
   * and edit or delete its own, as a user may.
   */
  | { kind: 'node'; nodeId: string; asOwner: boolean; writes?: boolean }
  /** An application user, authenticated by a JWT signed with the API key. */
  | { kind: 'user'; userId: string }
  /** This node itself (start-up, maintenance). */
  | { kind: 'system' };

export const OWNER: Actor = Object.freeze({ kind: 'owner' });
export const SYSTEM: Actor = Object.freeze({ kind: 'system' });

/** The author string stored on what an actor writes. */
export function authorOf(actor: Actor): string {
  switch (actor.kind) {
    case 'owner':
      return 'owner';
    case 'node':
      return `node:${actor.nodeId}`;
    case 'user':
      return `user:${actor.userId}`;
    case 'system':
      return 'system';
  }
}

/** Owner-equivalent actors may do anything on this node. */
export function hasOwnerRights(actor: Actor): boolean {
  return actor.kind === 'owner' || actor.kind === 'system' || (actor.kind === 'node' && actor.asOwner);
}
