/**
 * The client side of one server entry: logs in as this node (id and password in a body),
 * opens the link (WebSocket, or SSE + HTTP when the server refuses the upgrade or the entry
 * asks), says hello, runs replication, and when the link ends reconnects with exponential
 * backoff and full jitter, logging in again when the session expired. Pulling resumes from the
 * stored cursor, so a reconnect leaves no gap and no duplicate. An integrity failure (hash
 * mismatch, a change refused, a cursor the server does not know) stops the entry: it is
 * reported (status, log, metric) and never skipped.
 */
import { Readable } from 'node:stream';
import { MycelError, isMycelError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ServerRole, ServerTransport } from '../model/network.js';
import { backoffDelay } from './backoff.js';
import { Link, type LinkEnd, type LinkMessageHandler, type MessagePipe } from './link.js';
import { LinkReplication, type ReplicationContext } from './link-replication.js';
import { PROTOCOL_VERSION, type NetworkMessage, type NodeProfile } from './protocol.js';
import { copyLinkStatus, newLinkStatus, type LinkStatus } from './status.js';
import { openSsePipe } from './transports/sse-link-client.js';
import { TransportRefused, refusalOf } from './transports/transport-refused.js';
import { openWebSocketPipe } from './transports/ws-link-client.js';

export interface ServerEntry {
  id: string;
  url: string;
  password: string;
  role: ServerRole;
  transport: ServerTransport;
  /** From network.servers (cannot be removed at run time). */
  fromConfig: boolean;
  createdAt: number;
}

export interface ServerConnectionDeps {
  self: NodeProfile;
  replication: ReplicationContext;
  recordPeer(profile: NodeProfile): Promise<void>;
  handlers: readonly LinkMessageHandler[];
  maxMessageBytes: number;
  log: Logger;
  countError(peer: string, code: string): void;
  /** Whether WebSocket links are allowed from this node (server.enableWebsocket). */
  webSocket: boolean;
}

/** Errors after which retrying cannot help: the entry stops until the owner acts (or a restart). */
const STOPPING_CODES = new Set([
  'REPLICATION_HASH_MISMATCH',
  'CHANGE_INVALID',
  'CHANGE_UNSUPPORTED',
  'CURSOR_UNKNOWN',
  'NODE_ID_MISMATCH',
  'NODE_ROLE_REFUSED',
  'REPLICATION_GAP',
]);

const SESSION_CODES = new Set(['SESSION_EXPIRED', 'UNAUTHENTICATED']);

/** Bounds of one login or transport opening. */
const CONNECT_TIMEOUT_MS = 10_000;

export class ServerConnection {
  readonly entry: ServerEntry;
  readonly #deps: ServerConnectionDeps;
  readonly #status: LinkStatus;
  #token: { token: string; expiresAt: number } | null = null;
  #link: Link | null = null;
  #connected = false;
  #stopped = false;
  #attempt = 0;
  #sleepTimer: NodeJS.Timeout | null = null;
  #wakeSleep: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  /** Learnt in `auto`: the server refused the WebSocket upgrade. */
  #useSse: boolean;

  constructor(entry: ServerEntry, deps: ServerConnectionDeps) {
    this.entry = entry;
    this.#deps = deps;
    const pull = entry.role === 'child' || entry.role === 'both';
    const serve = entry.role === 'parent' || entry.role === 'both';
    this.#status = newLinkStatus(entry.id, { pull, serve }, entry.url);
    this.#useSse = entry.transport === 'sse' || !deps.webSocket;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Closes the link and stops reconnecting. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#link?.shutdown();
    this.#wakeSleep?.();
    await this.#loop;
    this.#status.state = 'stopped';
  }

  status(): LinkStatus {
    return copyLinkStatus(this.#status);
  }

  /** The open link once both hellos are in, else undefined. */
  get link(): Link | undefined {
    return this.#connected && this.#link && !this.#link.closed ? this.#link : undefined;
  }

  /**
   * The bytes of a blob from this server (GET /api/v1/blobs/sha256/<hex> with this link's node
   * session), or null when the server does not have it or will not give it to this node
   * (404, 403). Used by the blob fetcher, which verifies the hash while it stores.
   */
  async openBlob(sha256: string): Promise<NodeJS.ReadableStream | null> {
    const get = async (): Promise<Response> => {
      const { token } = await this.#login();
      const url = new URL(`/api/v1/blobs/sha256/${sha256}`, this.entry.url.endsWith('/') ? this.entry.url : `${this.entry.url}/`);
      // Bounded until the answer starts; the body then streams for as long as the blob takes.
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), CONNECT_TIMEOUT_MS);
      try {
        return await fetch(url, { headers: { authorization: `Bearer ${token}` }, redirect: 'error', signal: abort.signal });
      } catch (err) {
        throw new MycelError('NETWORK_SERVER_UNREACHABLE', { url: this.entry.url, reason: err instanceof Error ? err.message : String(err) });
      } finally {
        clearTimeout(timer);
      }
    };
    let response: Response;
    try {
      response = await get();
    } catch (err) {
      if (err instanceof TransportRefused) throw new MycelError('NETWORK_SERVER_UNREACHABLE', { url: this.entry.url, reason: err.message });
      throw err;
    }
    if (response.status === 401) {
      // The session ended on the server: once more with a new one.
      await response.body?.cancel();
      this.#token = null;
      response = await get().catch((err: unknown) => {
        throw err instanceof TransportRefused ? new MycelError('NETWORK_SERVER_UNREACHABLE', { url: this.entry.url, reason: err.message }) : err;
      });
    }
    if (response.status === 404 || response.status === 403 || response.status === 410) {
      await response.body?.cancel();
      return null;
    }
    if (response.status !== 200 || response.body === null) {
      const text = await response.text().catch(() => '');
      const refusal = refusalOf(response.status, text);
      throw new MycelError('NETWORK_SERVER_UNREACHABLE', { url: this.entry.url, status: response.status, code: refusal.code, reason: refusal.message });
    }
    return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      this.#status.state = 'connecting';
      let end: LinkEnd | null;
      try {
        end = await this.#connectOnce();
      } catch (err) {
        end = endOf(err);
      }
      if (this.#stopped) break;
      if (end) this.#record(end);
      if (end && STOPPING_CODES.has(end.code)) {
        this.#status.state = 'stopped';
        this.#deps.log.error({ server: this.entry.url, code: end.code, reason: end.message }, 'replication from this server stopped; fix the cause and reconnect it (remove and add it again, or restart)');
        break;
      }
      if (end && SESSION_CODES.has(end.code)) {
        // Log in again at once; a refusal of the new session backs off like anything else.
        this.#token = null;
        if (this.#attempt === 0) {
          this.#attempt++;
          continue;
        }
      }
      this.#status.state = 'backoff';
      await this.#sleep(backoffDelay(this.#attempt++));
    }
    this.#stopped = true;
  }

  #record(end: LinkEnd): void {
    this.#status.lastError = { code: end.code, message: end.message, at: Date.now() };
    this.#deps.countError(this.#status.peerNodeId ?? this.entry.url, end.code);
    this.#deps.log.warn({ server: this.entry.url, code: end.code, byPeer: end.byPeer, reason: end.message }, 'node link to server ended');
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wakeSleep = () => {
        if (this.#sleepTimer) clearTimeout(this.#sleepTimer);
        this.#wakeSleep = null;
        resolve();
      };
      this.#sleepTimer = setTimeout(() => this.#wakeSleep?.(), ms);
      this.#sleepTimer.unref();
    });
  }

  async #login(): Promise<{ token: string; expiresAt: number }> {
    if (this.#token && this.#token.expiresAt - Date.now() > 5_000) return this.#token;
    this.#token = null;
    const url = new URL('/api/v1/nodes/session', this.entry.url.endsWith('/') ? this.entry.url : `${this.entry.url}/`);
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ nodeId: this.#deps.self.id, password: this.entry.password }),
        signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS),
      });
    } catch (err) {
      throw new TransportRefused(0, 'NETWORK_SERVER_UNREACHABLE', err instanceof Error ? err.message : String(err));
    }
    const text = await response.text();
    if (response.status !== 201) throw refusalOf(response.status, text);
    const body = JSON.parse(text) as { token?: unknown; expiresAt?: unknown };
    if (typeof body.token !== 'string' || typeof body.expiresAt !== 'number') throw new TransportRefused(response.status, 'NETWORK_SERVER_UNREACHABLE', 'the login answer is not a session');
    this.#token = { token: body.token, expiresAt: body.expiresAt };
    this.#status.sessionExpiresAt = body.expiresAt;
    return this.#token;
  }

  async #openPipe(token: string): Promise<MessagePipe> {
    const { maxMessageBytes } = this.#deps;
    if (!this.#useSse) {
      try {
        return await openWebSocketPipe(this.entry.url, token, maxMessageBytes, CONNECT_TIMEOUT_MS);
      } catch (err) {
        if (!(err instanceof TransportRefused && err.meansNoWebSocket && this.entry.transport === 'auto')) throw asRefusal(err);
        this.#deps.log.info({ server: this.entry.url }, 'the server refuses WebSocket links; using SSE');
        this.#useSse = true;
      }
    }
    try {
      return await openSsePipe(this.entry.url, token, maxMessageBytes, CONNECT_TIMEOUT_MS);
    } catch (err) {
      throw asRefusal(err);
    }
  }

  /** One connection: resolves with how the link ended (null: closed cleanly, e.g. by stop()). */
  async #connectOnce(): Promise<LinkEnd | null> {
    const { token } = await this.#login();
    if (this.#stopped) return null;
    const pipe = await this.#openPipe(token);
    if (this.#stopped) {
      pipe.close();
      return null;
    }
    const status = this.#status;
    status.transport = pipe.transport;
    let replication: LinkReplication | null = null;
    let helloSeen = false;
    return new Promise<LinkEnd | null>((resolve) => {
      const link = new Link(pipe, {
        maxMessageBytes: this.#deps.maxMessageBytes,
        log: this.#deps.log,
        onMessage: async (l, message: NetworkMessage) => {
          if (!helloSeen) {
            if (message.t !== 'hello') throw new MycelError('BAD_MESSAGE', { reason: 'the first message must be hello' });
            if (message.v !== PROTOCOL_VERSION) throw new MycelError('BAD_MESSAGE', { reason: 'protocol version', version: message.v, supported: PROTOCOL_VERSION });
            helloSeen = true;
            l.peerNodeId = message.node.id;
            status.peerNodeId = message.node.id;
            status.peerName = message.node.name;
            await this.#deps.recordPeer(message.node);
            replication = new LinkReplication(l, this.#deps.replication, {
              pull: status.roles.pull,
              serve: status.roles.serve,
              permits: null,
              status,
              noteError: (err) => {
                const e = endOf(err);
                status.lastError = { code: e.code, message: e.message, at: Date.now() };
                this.#deps.countError(l.peerNodeId, e.code);
              },
            });
            status.state = 'connected';
            this.#connected = true;
            this.#attempt = 0;
            this.#deps.log.info({ server: this.entry.url, peer: l.peerNodeId, transport: l.transport, roles: status.roles }, 'node link open');
            await replication.start();
            status.cursor = replication.sinkCursor ?? status.cursor;
            return;
          }
          if (await replication!.handle(message)) return;
          for (const handler of this.#deps.handlers) if (handler.onMessage(l, message)) return;
          throw new MycelError('BAD_MESSAGE', { reason: `no handler for ${message.t}` });
        },
        onEnd: (l, end) => {
          replication?.stop();
          this.#connected = false;
          if (helloSeen) for (const handler of this.#deps.handlers) handler.onLinkClosed?.(l);
          resolve(end);
        },
      });
      this.#link = link;
      link.start();
      link.send({ t: 'hello', v: PROTOCOL_VERSION, node: this.#deps.self, wants: { pull: status.roles.pull, serve: status.roles.serve } });
    });
  }
}

function asRefusal(err: unknown): unknown {
  if (err instanceof TransportRefused) return err;
  return new TransportRefused(0, 'NETWORK_SERVER_UNREACHABLE', err instanceof Error ? err.message : String(err));
}

/** How an error ends a connection attempt, as a LinkEnd. */
function endOf(err: unknown): LinkEnd {
  if (err instanceof TransportRefused) return { code: err.code, message: err.message, details: err.details, byPeer: err.status !== 0 };
  if (isMycelError(err)) return { code: err.code, message: err.message, details: err.details, byPeer: false };
  return { code: 'NETWORK_SERVER_UNREACHABLE', message: err instanceof Error ? err.message : String(err), byPeer: false };
}
