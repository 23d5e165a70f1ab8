/**
 * What a node keeps about the node network: how far it has imported each peer's log, the
 * profiles of the peers it has met, and the servers added at run time. Local state, never
 * replicated (not in the change log, not in the digest).
 */

/** How far this node has imported a peer's change log: the peer's serial and that change's hash. */
export interface PeerCursor {
  peerNodeId: string;
  serial: number;
  hash: string;
}

/** A peer's node profile as it introduced itself (hello), with when this node saw it. */
export interface NetworkPeer {
  nodeId: string;
  name: string;
  /** The peer's own creation time. */
  createdAt: number;
  firstSeenAt: number;
  lastSeenAt: number;
}

/** The CLIENT's data role towards a server: `child` pulls from it, `parent` is pulled by it. */
export const SERVER_ROLES = ['child', 'parent', 'both'] as const;
export type ServerRole = (typeof SERVER_ROLES)[number];

export const SERVER_TRANSPORTS = ['auto', 'websocket', 'sse'] as const;
export type ServerTransport = (typeof SERVER_TRANSPORTS)[number];

/**
 * A server this node connects to, added at run time (config entries are not stored). The
 * password is kept as given, because the node must log in again with it; the data directory
 * (or database) is the owner's (docs/security.md).
 */
export interface NetworkServerRecord {
  id: string;
  url: string;
  password: string;
  role: ServerRole;
  transport: ServerTransport;
  createdAt: number;
}
