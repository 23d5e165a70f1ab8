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
  BAD_BLOB_URI: { status: 400, message: 'The blob URI is not sha256://<64 hex> or sha1://<40 hex>' },
  UNAUTHENTICATED: { status: 401, message: 'Authentication is required' },
  INVALID_CREDENTIALS: { status: 401, message: 'The credentials are not valid' },
  SESSION_EXPIRED: { status: 401, message: 'The session has expired; log in again' },
  SIGNATURE_INVALID: { status: 401, message: 'The request signature is missing or does not verify' },
  SIGNATURE_EXPIRED: { status: 401, message: 'The request signature\'s time is outside the accepted clock skew' },
  SIGNATURE_REPLAYED: { status: 401, message: 'The request nonce was seen already' },
  INVITATION_INVALID: { status: 401, message: 'The invitation is not known to this node' },
  INVITATION_EXPIRED: { status: 401, message: 'The invitation has expired' },
  PROJECT_TOKEN_INVALID: { status: 401, message: 'The project token is not valid on this node' },
  FORBIDDEN: { status: 403, message: 'The actor may not do this' },
  NODE_READ_ONLY: { status: 403, message: 'This client node may not write here: its registration is read-only' },
  CHANNEL_NOT_PERMITTED: { status: 403, message: "The channel is outside this client node's channel permissions" },
  CSRF_REJECTED: { status: 403, message: 'The request origin does not match the public URL of this node' },
  NETWORK_SERVER_FROM_CONFIG: { status: 403, message: 'This server entry comes from the configuration; remove it there' },
  COMPUTE_BINDING_INVALID: { status: 403, message: 'A datasource binding does not prove the project token' },
  RESOURCE_DOWNLOAD_DISABLED: { status: 403, message: 'This node does not let workbenches download job results (compute.allowResourceDownload)' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No such route' },
  COMPUTE_NOT_ENABLED: { status: 404, message: 'This node does not run federated compute (compute.mode is not node or standalone)' },
  CHANNEL_NOT_FOUND: { status: 404, message: 'No such channel' },
  POST_NOT_FOUND: { status: 404, message: 'No such post' },
  LINK_NOT_FOUND: { status: 404, message: 'No such link' },
  NODE_NOT_FOUND: { status: 404, message: 'No such client node' },
  NETWORK_SERVER_NOT_FOUND: { status: 404, message: 'No such server entry' },
  BLOB_NOT_FOUND: { status: 404, message: 'No such blob' },
  COMPUTE_CLIENT_NOT_FOUND: { status: 404, message: 'No such compute client' },
  JOB_NOT_FOUND: { status: 404, message: 'No such compute job' },
  TASK_NOT_FOUND: { status: 404, message: 'No such compute task' },
  REALTIME_SESSION_NOT_FOUND: { status: 404, message: 'No such realtime session on this node; reconnect' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'The method is not allowed on this route' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time' },
  CHANNEL_EXISTS: { status: 409, message: 'A channel with this name already exists' },
  INVITATION_USED: { status: 409, message: 'The invitation has been used already' },
  COMPUTE_CLIENT_EXISTS: { status: 409, message: 'A compute client with this public key has joined already' },
  JOB_NO_CLIENTS: { status: 409, message: 'No compute client serves this datasource for the project' },
  LEASE_NOT_HELD: { status: 409, message: 'The client does not hold the current lease of the task' },
  TASK_NOT_LEASABLE: { status: 409, message: 'The task cannot be leased now' },
  TASK_ATTEMPTS_EXHAUSTED: { status: 409, message: 'The task was leased as often as its job allows' },
  ROUND_NOT_COMPLETE: { status: 409, message: 'The round still has tasks that are not done or failed' },
  JOB_ROUND_MISMATCH: { status: 409, message: 'The job is not at this round' },
  JOB_NOT_LOCAL: { status: 409, message: 'The compute job belongs to another node' },
  LINK_EXISTS: { status: 409, message: 'This link already exists' },
  RANGE_NOT_SATISFIABLE: { status: 416, message: 'The requested byte range is outside the blob' },
  NODE_EXISTS: { status: 409, message: 'A client node with this id is already registered' },
  POST_DELETED: { status: 409, message: 'The post has been deleted' },
  REPLICATION_GAP: { status: 409, message: 'The changes do not continue where the import from that peer stands; pull again from the cursor' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than the configured limit' },
  BLOB_TOO_LARGE: { status: 413, message: 'The blob is larger than blobs.maxUploadBytes' },
  COMPUTE_VALUE_TOO_LARGE: { status: 413, message: 'A compute plan, input, output or result is larger than the node accepts' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be application/json' },
  CHANGE_UNSUPPORTED: { status: 422, message: 'This node does not know the change type or payload version' },
  CHANGE_INVALID: { status: 422, message: 'The change cannot be applied' },
  REPLICATION_HASH_MISMATCH: { status: 422, message: 'A replicated change does not match its hash or does not link to the previous one' },
  BLOB_HASH_MISMATCH: { status: 422, message: 'The blob bytes do not match the expected hash' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; try again later' },
  TOO_MANY_CONNECTIONS: { status: 429, message: 'Too many connections from this address are still sending their request' },
  BAD_MESSAGE: { status: 400, message: 'A node link message is malformed' },
  NODE_ROLE_REFUSED: { status: 403, message: 'The client node\'s registration does not allow this data role' },
  NODE_ID_MISMATCH: { status: 403, message: 'The node introduced itself with another id than the one it logged in as' },
  NODE_LINK_NOT_FOUND: { status: 404, message: 'No such node link, or it is closed' },
  CURSOR_UNKNOWN: { status: 409, message: 'This node\'s log does not contain the cursor: it was re-created or the peer is another node' },
  CHUNK_TOO_LARGE: { status: 413, message: 'A node link message is larger than network.maxMessageBytes' },
  PLAN_INVALID: { status: 400, message: 'The compute plan is not valid' },
  OPERATION_UNKNOWN: { status: 400, message: 'The compute plan names an operation that is not in the registry' },
  COLUMN_NOT_FOUND: { status: 400, message: 'The compute plan names a column the datasource does not have' },
  COLUMN_NOT_NUMERIC: { status: 400, message: 'The compute plan needs a numeric column where the datasource has another type' },
  COLUMN_NOT_BINARY: { status: 400, message: 'The target of a logistic model must hold only 0 and 1' },
  DATASOURCE_UNREADABLE: { status: 422, message: 'The datasource cannot be read' },
  TASK_OUTPUT_INVALID: { status: 422, message: 'A client sent a task output that does not fit its round' },
  MODEL_DIVERGED: { status: 422, message: 'The model diverged (its loss or weights are not finite); lower the learning rate' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request line and headers are larger than the server accepts' },

  // Server-side conditions (500-504).
  INTERNAL: { status: 500, message: 'Internal error' },
  NOT_READY: { status: 503, message: 'The node is not ready' },
  SHUTTING_DOWN: { status: 503, message: 'The node is shutting down' },
  LINK_CLOSED: { status: 503, message: 'The node link is closed' },
  NETWORK_SERVER_UNREACHABLE: { status: 503, message: 'The server node cannot be reached' },
  COMPUTE_JOIN_FAILED: { status: 503, message: 'The aggregation node refused this compute client\'s join' },
  TOKEN_KEYS_UNAVAILABLE: { status: 503, message: 'The keys that verify tokens cannot be fetched right now; try again' },
  NOT_CONNECTED_TO_ORIGIN: { status: 503, message: 'The write belongs to another node, and this node has no connection to it right now; try again' },
  FORWARD_QUEUE_FULL: { status: 503, message: 'Too many forwarded writes are waiting for their origin node; try again' },
  FORWARD_TIMEOUT: { status: 504, message: 'The forwarded write was not confirmed by its origin node in time' },
  NETWORK_UNAVAILABLE: { status: 503, message: 'This node runs without the node network' },
  TASK_FAILED: { status: 500, message: 'The compute task failed' },
  TASK_TIMEOUT: { status: 504, message: 'The compute task did not finish within its time limit' },
  TASK_DEADLINE_EXCEEDED: { status: 504, message: 'The compute client did not answer its round within the round deadline' },
  BLOB_CORRUPT: { status: 503, message: 'The stored blob is damaged and was set aside; fetch or upload it again' },

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
  NODE_UNREACHABLE: { status: 503, message: 'The node cannot be reached' },
  AUTH_GROUP_UNKNOWN: { status: 500, message: 'The OS group named by blobs.authGroup does not exist' },
  AUTH_GROUP_FAILED: { status: 500, message: 'The blob store cannot be shared with the OS group of blobs.authGroup' },
  CLIENT_TOKEN_UNREADABLE: { status: 500, message: "The shared node's client token cannot be read from the storage directory" },
  BACKUP_TARGET_EXISTS: { status: 500, message: 'The backup or restore target already exists' },
  BACKUP_INVALID: { status: 500, message: 'The file is not a sound Mycel database' },
  BACKUP_UNSUPPORTED: { status: 500, message: "This node's database is backed up with its own tools" },
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

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, code);
}

/**
 * Another node's error answer (`{ error: { code, message, details } }`) as the MycelError it
 * raised there. A code this build does not know (a newer node's) is INTERNAL with the code in
 * its details; an answer that is no Mycel error is NODE_UNREACHABLE ("is this a Mycel node?").
 */
export function errorFromAnswer(status: number, json: unknown, where: { url: string; method: string; path: string }): MycelError {
  const error = (json as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  const message = typeof error?.message === 'string' ? error.message : undefined;
  if (error && isErrorCode(error.code)) {
    const details = error.details !== null && typeof error.details === 'object' ? (error.details as ErrorDetails) : undefined;
    return new MycelError(error.code, details, message);
  }
  if (error && typeof error.code === 'string') return new MycelError('INTERNAL', { url: where.url, code: error.code, status }, message);
  return new MycelError('NODE_UNREACHABLE', { url: where.url, reason: `${where.method} ${where.path} answered ${status} without a Mycel error: is this a Mycel node?` });
}

export function isMycelError(err: unknown): err is MycelError {
  return err instanceof MycelError;
}
