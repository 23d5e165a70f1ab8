/**
 * Realtime value types shared by the Hub, the stores and the transports. They mirror the
 * Centrifugo client protocol v2 (see docs/protocol.md), in camelCase; transports encode them.
 */

/** Where a channel's stream is: `offset` grows by one per publication; a new `epoch` means history was lost. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/**
 * Whether a position known as from epoch `known` is on the stream now at epoch `current`. An
 * empty `known` epoch (a client that has not learned one yet) matches any stream; the one rule
 * of recovery, history `since`, the persisted history read and the reconnect check.
 */
export function epochMatches(known: string, current: string): boolean {
  return known === '' || known === current;
}

/** Who a client is, as subscribers and presence see it. */
export interface ClientInfo {
  user: string;
  client: string;
  /** From the connection token's `info` claim. */
  connInfo?: unknown;
  /** From the subscription token's `info` claim. */
  chanInfo?: unknown;
}

/** One message in a channel. */
export interface Publication {
  /** 0 when the channel keeps no history. */
  offset: number;
  /** Any JSON value. */
  data: unknown;
  info?: ClientInfo;
  tags?: Record<string, string>;
  /** Milliseconds since the epoch when the publication was made. */
  time?: number;
}

/** What travels on the Bus for a channel. */
export type BusMessage =
  | { type: 'pub'; publication: Publication; epoch?: string }
  | { type: 'join'; info: ClientInfo }
  | { type: 'leave'; info: ClientInfo };

/** History options for one publish. */
export interface HistoryOptions {
  /** Publications to keep; older ones are trimmed. */
  size: number;
  /** Seconds the publications live after the last publish. */
  ttlSeconds: number;
  /** Seconds the stream position (offset + epoch) lives; longer than ttl so epochs survive idle time. */
  metaTtlSeconds: number;
}

export interface HistoryQuery {
  /**
   * Return publications after this position; an epoch mismatch yields none, and the caller
   * compares epochs. An empty epoch matches any.
   */
  since?: StreamPosition;
  /** 0: position only; -1: everything kept; n: at most n (the oldest n, or the newest n with `reverse`). */
  limit: number;
  /** Newest first. With `since`: the publications before it, newest first (paging backwards, as centrifuge does). */
  reverse?: boolean;
  /** Refreshes/creates the stream meta with this TTL, as a read must not lose the epoch. */
  metaTtlSeconds: number;
}

export interface HistoryResult {
  publications: Publication[];
  /** The stream's current top offset and epoch. */
  position: StreamPosition;
}

/** Node-wide commands that every instance must carry out for its own connections. */
export type ControlCommand =
  | { type: 'disconnect'; user: string; client?: string; whitelist?: string[]; code: number; reason: string }
  | { type: 'subscribe'; user: string; channel: string; client?: string }
  | { type: 'unsubscribe'; user: string; channel: string; client?: string }
  | { type: 'refresh'; user: string; client?: string; expired?: boolean; expireAt?: number }
  | { type: 'node-info'; node: NodeStats }
  /** The server API's `channels` asks every instance for its channels… */
  | { type: 'channels-request'; requestId: string; from: string; pattern?: string }
  /** …and each answers the asking instance with its own, by subscriber count. */
  | { type: 'channels-reply'; requestId: string; to: string; node: string; channels: Record<string, number> }
  /** Commands of an emulation request that reached another instance than `node`, which holds the session. */
  | { type: 'emulation'; node: string; session: string; data: string };

export interface NodeStats {
  uid: string;
  name: string;
  version: string;
  numClients: number;
  numUsers: number;
  numChannels: number;
  numSubs: number;
  uptime: number;
  updatedAt: number;
}
