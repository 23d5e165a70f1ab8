/**
 * The one registry of Mycel's error codes. Every error a client or an operator can see is
 * created from this table, so its code, HTTP status and text are stable. `docs/errors.md`
 * lists every code; test/integration/docs-errors.test.ts fails when the two drift apart.
 * A retired code is never reused for another meaning.
 */
export const ERROR_CODES = {
  // Client mistakes in a request (400-431).
  VALIDATION_FAILED: { status: 400, message: 'The request is not valid' },
  MALFORMED_REQUEST: { status: 400, message: 'The request is not valid HTTP/1.1' },
  BAD_JSON: { status: 400, message: 'The request body is not valid JSON' },
  BAD_CURSOR: { status: 400, message: 'The pagination cursor is not valid' },
  UNAUTHENTICATED: { status: 401, message: 'Authentication is required' },
  INVALID_CREDENTIALS: { status: 401, message: 'The credentials are not valid' },
  SESSION_EXPIRED: { status: 401, message: 'The session has expired; log in again' },
  FORBIDDEN: { status: 403, message: 'The actor may not do this' },
  CSRF_REJECTED: { status: 403, message: 'The request origin does not match the public URL of this node' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route' },
  CHANNEL_NOT_FOUND: { status: 404, message: 'No such channel' },
  POST_NOT_FOUND: { status: 404, message: 'No such post' },
  LINK_NOT_FOUND: { status: 404, message: 'No such link' },
  NODE_NOT_FOUND: { status: 404, message: 'No such client node' },
  REALTIME_SESSION_NOT_FOUND: { status: 404, message: 'No such realtime session on this node; reconnect' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'The method is not allowed on this route' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time' },
  CHANNEL_EXISTS: { status: 409, message: 'A channel with this name already exists' },
  LINK_EXISTS: { status: 409, message: 'This link already exists' },
  NODE_EXISTS: { status: 409, message: 'A client node with this id is already registered' },
  POST_DELETED: { status: 409, message: 'The post has been deleted' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than the configured limit' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be application/json' },
  CHANGE_UNSUPPORTED: { status: 422, message: 'This node does not know the change type or payload version' },
  CHANGE_INVALID: { status: 422, message: 'The change cannot be applied' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; try again later' },
  TOO_MANY_CONNECTIONS: { status: 429, message: 'Too many connections from this address are still sending their request' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request line and headers are larger than the server accepts' },

  // Server-side conditions (500-503).
  INTERNAL: { status: 500, message: 'Internal error' },
  NOT_READY: { status: 503, message: 'The node is not ready' },
  SHUTTING_DOWN: { status: 503, message: 'The node is shutting down' },
  TOKEN_KEYS_UNAVAILABLE: { status: 503, message: 'The keys that verify tokens cannot be fetched right now; try again' },

  // Start-up and operator errors: they stop a command, they never reach an HTTP client.
  CONFIG_INVALID: { status: 500, message: 'The configuration is not valid' },
  CONFIG_ENV_MISSING: { status: 500, message: 'The configuration refers to an environment variable that is not set' },
  CONFIG_FILE_UNREADABLE: { status: 500, message: 'The configuration file cannot be read' },
  OWNER_PASSWORD_MISMATCH: { status: 500, message: 'The configured owner password does not match the one stored in this node' },
  SCHEMA_TOO_NEW: { status: 500, message: 'The database schema is newer than this version of Mycel' },
  STORAGE_UNAVAILABLE: { status: 503, message: 'The database cannot be reached' },
  REDIS_UNAVAILABLE: { status: 503, message: 'Redis cannot be reached' },
  NODE_NOT_INITIALIZED: { status: 500, message: 'This data directory holds no node yet; run `mycel init` or `mycel serve`' },
  CHANGE_LOG_BROKEN: { status: 500, message: 'The change log does not verify' },
  PORT_IN_USE: { status: 500, message: 'The HTTP port is already in use' },
  LISTEN_FAILED: { status: 500, message: 'The HTTP server cannot listen on the configured address' },
  DATA_DIR_LOCKED: { status: 500, message: 'Another Mycel process is serving this data directory' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export type ErrorDetails = Record<string, unknown>;

/** An error with a stable code from the registry; safe to show to a client. */
export class MycelError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: ErrorDetails | undefined;

  constructor(code: ErrorCode, details?: ErrorDetails, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERROR_CODES[code].message, options);
    this.name = 'MycelError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = details;
  }

  /** The body every HTTP error reply carries. */
  toBody(): { error: { code: ErrorCode; message: string; details?: ErrorDetails } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export function isMycelError(err: unknown): err is MycelError {
  return err instanceof MycelError;
}
