/**
 * Realtime user ids of the node's own principals. Application users are named by their JWT's
 * `sub`, which the application chooses; the node's own principals (the owner, later client
 * nodes) live under a reserved prefix that no application JWT may use, so an app user called
 * `owner` is never the owner in presence, in user-addressed server API commands or anywhere
 * else a realtime user id decides.
 */

/** Realtime user ids starting with this belong to the node itself. */
export const RESERVED_USER_PREFIX = 'mycel:';

/** The owner's realtime user id (connections made with an owner session token). */
export const OWNER_USER_ID = `${RESERVED_USER_PREFIX}owner`;

/** A logged-in node's realtime user id. */
export function nodeUserId(nodeId: string): string {
  return `${RESERVED_USER_PREFIX}node:${nodeId}`;
}

/** Whether a user id is reserved for the node's own principals (refused as a JWT `sub`). */
export function isReservedUserId(user: string): boolean {
  return user.startsWith(RESERVED_USER_PREFIX);
}
