/**
 * One JSON request to another Mycel node, for the clients that talk to one (the CLI's
 * NodeClient, the compute WorkbenchClient): fetch with a bounded wait and no redirects, the
 * answer's body read leniently. A request that got no answer at all comes back as the reason,
 * in a few words, so each caller raises its own error (this layer knows no error codes).
 */

export interface JsonRequest {
  method: string;
  headers?: Record<string, string>;
  /** Sent as JSON (content-type set). */
  body?: unknown;
  timeoutMs: number;
}

/** `answered`: any HTTP status, its JSON body (undefined when empty or not JSON); `unreachable`: no answer. */
export type JsonAnswer = { kind: 'answered'; status: number; json: unknown } | { kind: 'unreachable'; reason: string };

export async function requestJson(url: string, request: JsonRequest): Promise<JsonAnswer> {
  const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method: request.method,
      headers,
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      redirect: 'error',
      signal: AbortSignal.timeout(request.timeoutMs),
    });
  } catch (err) {
    return { kind: 'unreachable', reason: unreachableReason(err, request.timeoutMs) };
  }
  return { kind: 'answered', status: res.status, json: await readJsonBody(res) };
}

/** The body as JSON; undefined when it is empty, not JSON, or breaks off. */
export async function readJsonBody(res: Response): Promise<unknown> {
  const text = await res.text().catch(() => '');
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Why fetch got no answer, in a few words (the cause chain of undici's "fetch failed"). */
export function unreachableReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs / 1000} s`;
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code) return cause.code === 'ECONNREFUSED' ? 'connection refused' : cause.code === 'ENOTFOUND' ? 'host not found' : cause.code;
  return cause?.message ?? (err instanceof Error ? err.message : String(err));
}
