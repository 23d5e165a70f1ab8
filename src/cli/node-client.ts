import { errorFromAnswer, MycelError } from '../errors.js';
import { readJsonBody, requestJson, unreachableReason } from '../lib/json-request.js';

/**
 * The CLI's REST client for a running node (`mycel --node URL …`, and `mycel nodes
 * connect|disconnect|status` on the local one): logs in as the owner or as a client node, then
 * sends JSON requests with the session as `Authorization: Bearer`. A node's error reply becomes
 * the same MycelError the node raised, so the CLI prints its code and hint as for a local
 * failure; no HTTP answer at all is NODE_UNREACHABLE with the URL. Passwords go in request
 * bodies only, never in a URL, and are never part of an error.
 */

/** Who the CLI logs in as: the node's owner, or a client node registered there. */
export type RemoteCredentials = { kind: 'owner'; password: string } | { kind: 'node'; nodeId: string; password: string };

/** Generous for a loaded node; a node that takes longer is as good as unreachable to a command. */
const REQUEST_TIMEOUT_MS = 30_000;

/** The base URL of a node: http(s), no credentials, query or fragment; a trailing slash is dropped. */
export function nodeBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new MycelError('VALIDATION_FAILED', { field: 'node' }, `--node (MYCEL_NODE_URL) must be an http:// or https:// URL, not ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MycelError('VALIDATION_FAILED', { field: 'node' }, '--node (MYCEL_NODE_URL) must be an http:// or https:// URL');
  }
  // A password in the URL would sit in argv and shell history: the whole point of the other ways.
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new MycelError('VALIDATION_FAILED', { field: 'node' }, '--node (MYCEL_NODE_URL) takes a URL without credentials, query or fragment');
  }
  return url.href.replace(/\/+$/, '');
}

export class NodeClient {
  private token: string | null = null;
  /** A token given by the caller (the shared node's client token), not a session: log-out leaves it be. */
  private givenToken = false;

  constructor(readonly url: string) {}

  /** Sends `token` as `Authorization: Bearer` from now on, without a log-in (the shared node's client token). */
  useToken(token: string): void {
    this.token = token;
    this.givenToken = true;
  }

  /** Logs in; INVALID_CREDENTIALS (and RATE_LIMITED) come back from the node as they are. */
  async login(credentials: RemoteCredentials): Promise<void> {
    try {
      const issued =
        credentials.kind === 'owner'
          ? await this.request<{ token: string }>('POST', '/api/v1/session', { password: credentials.password })
          : await this.request<{ token: string }>('POST', '/api/v1/nodes/session', { nodeId: credentials.nodeId, password: credentials.password });
      this.token = issued.token;
    } catch (err) {
      // Say where and as whom (never with what): the hint then names the right variable.
      if (err instanceof MycelError && (err.code === 'INVALID_CREDENTIALS' || err.code === 'RATE_LIMITED')) {
        const as = credentials.kind === 'owner' ? 'owner' : `node ${credentials.nodeId}`;
        throw new MycelError(err.code, { ...err.details, url: this.url, loginAs: as }, err.message);
      }
      throw err;
    }
  }

  /** Ends the session on the node, so a command leaves no live token behind. */
  async logout(): Promise<void> {
    if (this.token === null || this.givenToken) return;
    try {
      await this.request('DELETE', '/api/v1/session');
    } catch {
      // The session expires by itself; a failed log-out must not turn a done command into a failure.
    } finally {
      this.token = null;
    }
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** Sends one request; a 2xx answers its JSON body (undefined for 204), anything else throws. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await requestJson(`${this.url}${path}`, {
      method,
      ...(this.token === null ? {} : { headers: { authorization: `Bearer ${this.token}` } }),
      ...(body === undefined ? {} : { body }),
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    if (answer.kind === 'unreachable') throw new MycelError('NODE_UNREACHABLE', { url: this.url, reason: answer.reason });
    const { status, json } = answer;
    if (status >= 200 && status < 300) {
      if (status !== 204 && json === undefined) {
        throw new MycelError('NODE_UNREACHABLE', { url: this.url, reason: `${method} ${path} answered ${status} without JSON: is this a Mycel node?` });
      }
      return json as T;
    }
    throw errorFromAnswer(status, json, { url: this.url, method, path });
  }

  /**
   * Sends a request whose body or answer is a byte stream (blobs). A 2xx answer is returned with
   * its body unread; anything else throws as for request(). Without a body the wait is bounded
   * until the answer starts, never while its bytes stream; an upload is not bounded (it takes
   * as long as the bytes take).
   */
  async send(method: string, path: string, init: { body?: AsyncIterable<Uint8Array>; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    const abort = new AbortController();
    const timer = init.body === undefined ? setTimeout(() => abort.abort(new DOMException('no answer', 'TimeoutError')), REQUEST_TIMEOUT_MS) : undefined;
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        // undici streams an async iterable body; `duplex` says the answer may start before it ends.
        ...(init.body === undefined ? {} : { body: init.body as unknown as RequestInit['body'], duplex: 'half' }),
        redirect: 'error',
        signal: abort.signal,
      } as RequestInit);
    } catch (err) {
      // The body's own failure (a file read error, a hash mismatch found while sending) is the cause, not the node.
      if (init.body !== undefined && (err as { cause?: unknown }).cause instanceof MycelError) throw (err as { cause: MycelError }).cause;
      throw new MycelError('NODE_UNREACHABLE', { url: this.url, reason: unreachableReason(err, REQUEST_TIMEOUT_MS) });
    } finally {
      clearTimeout(timer);
    }
    if (res.ok) return res;
    throw errorFromAnswer(res.status, await readJsonBody(res), { url: this.url, method, path });
  }
}
