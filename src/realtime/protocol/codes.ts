/**
 * The codes of the Centrifugo client protocol v2 as Mycel uses them: reply errors, disconnects
 * and unsubscribes. Every code here is listed in docs/protocol.md; a test fails when they drift.
 * Ranges follow the reference (centrifugal/centrifuge): clients decide from the range alone
 * whether to reconnect or resubscribe, so a code never moves between ranges.
 */

/** An error in a reply: `{"id":N,"error":{"code","message","temporary"?}}`. */
export interface ReplyErrorCode {
  code: number;
  message: string;
  /** Temporary errors make the client retry the command (subscribe) or the connection. */
  temporary?: true;
}

/**
 * Reply error codes 100-113. 0-99 are the client's own (timeouts etc.); applications may use
 * 400-1999 for their own errors (rpc handlers).
 */
export const ERRORS = {
  internal: { code: 100, message: 'internal server error', temporary: true },
  unauthorized: { code: 101, message: 'unauthorized' },
  unknownChannel: { code: 102, message: 'unknown channel' },
  permissionDenied: { code: 103, message: 'permission denied' },
  methodNotFound: { code: 104, message: 'method not found' },
  alreadySubscribed: { code: 105, message: 'already subscribed' },
  limitExceeded: { code: 106, message: 'limit exceeded' },
  badRequest: { code: 107, message: 'bad request' },
  notAvailable: { code: 108, message: 'not available' },
  tokenExpired: { code: 109, message: 'token expired' },
  expired: { code: 110, message: 'expired' },
  tooManyRequests: { code: 111, message: 'too many requests', temporary: true },
  unrecoverablePosition: { code: 112, message: 'unrecoverable position' },
  concurrentPagination: { code: 113, message: 'concurrent pagination', temporary: true },
} as const satisfies Record<string, ReplyErrorCode>;

export type ErrorName = keyof typeof ERRORS;

/** A disconnect: a WebSocket close code + reason, or a `disconnect` push on emulation transports. */
export interface DisconnectCode {
  code: number;
  reason: string;
}

/**
 * Disconnect codes. 3000-3499: the client reconnects (with backoff); 3500-3999: terminal, it
 * stays disconnected. Applications get 4000-4499 (reconnect) and 4500-4999 (terminal).
 * Close codes below 3000 are WebSocket's own; the client reconnects after them, except 1009
 * (message too big), which ws sends when a frame exceeds realtime.maxMessageBytes.
 */
export const DISCONNECTS = {
  connectionClosed: { code: 3000, reason: 'connection closed' },
  shutdown: { code: 3001, reason: 'shutdown' },
  internal: { code: 3004, reason: 'internal server error' },
  expired: { code: 3005, reason: 'connection expired' },
  subExpired: { code: 3006, reason: 'subscription expired' },
  slow: { code: 3008, reason: 'slow' },
  writeError: { code: 3009, reason: 'write error' },
  insufficientState: { code: 3010, reason: 'insufficient state' },
  forceReconnect: { code: 3011, reason: 'force reconnect' },
  noPong: { code: 3012, reason: 'no pong' },
  tooManyRequests: { code: 3013, reason: 'too many requests' },
  stateInvalidated: { code: 3014, reason: 'state invalidated' },
  invalidToken: { code: 3500, reason: 'invalid token' },
  badRequest: { code: 3501, reason: 'bad request' },
  stale: { code: 3502, reason: 'stale' },
  forceDisconnect: { code: 3503, reason: 'force disconnect' },
  connectionLimit: { code: 3504, reason: 'connection limit' },
  channelLimit: { code: 3505, reason: 'channel limit' },
  inappropriateProtocol: { code: 3506, reason: 'inappropriate protocol' },
  permissionDenied: { code: 3507, reason: 'permission denied' },
  notAvailable: { code: 3508, reason: 'not available' },
  tooManyErrors: { code: 3509, reason: 'too many errors' },
} as const satisfies Record<string, DisconnectCode>;

export type DisconnectName = keyof typeof DISCONNECTS;

/** The documented ranges, inclusive. */
export const DISCONNECT_RANGES = {
  reconnect: [3000, 3499],
  terminal: [3500, 3999],
  appReconnect: [4000, 4499],
  appTerminal: [4500, 4999],
} as const;

/** Whether a client told this code reconnects (the centrifuge-js rule). */
export function disconnectReconnects(code: number): boolean {
  return !((code >= 3500 && code <= 3999) || (code >= 4500 && code <= 4999));
}

/**
 * Unsubscribe push codes, `{"push":{"channel","unsubscribe":{"code","reason"}}}`. Below 2500 the
 * subscription ends; 2500 and above make the client resubscribe (and recover where it can).
 */
export const UNSUBSCRIBES = {
  server: { code: 2000, reason: 'server unsubscribe' },
  insufficientState: { code: 2500, reason: 'insufficient state' },
  expired: { code: 2501, reason: 'subscription expired' },
  stateInvalidated: { code: 2502, reason: 'state invalidated' },
} as const satisfies Record<string, DisconnectCode>;

export type UnsubscribeName = keyof typeof UNSUBSCRIBES;

/** Thrown inside command handlers to answer the command with a reply error. */
export class ReplyError extends Error {
  readonly code: number;
  readonly temporary: boolean;
  constructor(error: ReplyErrorCode, message?: string) {
    super(message ?? error.message);
    this.name = 'ReplyError';
    this.code = error.code;
    this.temporary = error.temporary === true;
  }
}

/** Thrown inside command handlers to close the connection with a disconnect code. */
export class DisconnectError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(disconnect: DisconnectCode, detail?: string) {
    super(detail ?? disconnect.reason);
    this.name = 'DisconnectError';
    this.code = disconnect.code;
    this.reason = disconnect.reason;
  }
}
