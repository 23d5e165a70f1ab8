/** A server's HTTP refusal of a link request (upgrade, SSE stream, login): its status and error code. */
export class TransportRefused extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'TransportRefused';
  }

  /** 404/426: the server does not take WebSocket links here; try SSE. */
  get meansNoWebSocket(): boolean {
    return this.status === 404 || this.status === 426;
  }
}

/** Reads a Mycel error body (`{error:{code,message}}`); anything else is named by its status. */
export function refusalOf(status: number, body: string): TransportRefused {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    const error = parsed.error;
    if (error && typeof error.code === 'string') {
      const details = error.details !== null && typeof error.details === 'object' ? (error.details as Record<string, unknown>) : undefined;
      return new TransportRefused(status, error.code, typeof error.message === 'string' ? error.message : error.code, details);
    }
  } catch {
    // Not JSON: not a Mycel node answering.
  }
  return new TransportRefused(status, 'NETWORK_SERVER_UNREACHABLE', `the server answered HTTP ${status}`);
}
