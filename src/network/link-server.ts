/**
 * The server side of node links: accepts links from registered client nodes (over WebSocket or
 * SSE), checks who they are and what their registration lets them do, then runs replication
 * (and the registered message handlers) on each. A client node may hold several links (the
 * instances of a node that runs several each connect; a link whose client vanished is cut by
 * the transport's keepalive): each import is idempotent, so two pullers do no harm.
 */
import { randomUUID } from 'node:crypto';
import { channelPermitted } from '../domain/client-nodes.js';
import { MycelError, isMycelError } from '../errors.js';
import { sha256Hex } from '../lib/hash.js';
import type { Logger } from '../log.js';
import type { Change, ClientNode } from '../model/content.js';
import type { Actor } from '../domain/actor.js';
import { Link, type LinkEnd, type LinkMessageHandler, type MessagePipe } from './link.js';
import { LinkReplication, type ReplicationContext } from './link-replication.js';
import { PROTOCOL_VERSION, type HelloMessage, type NetworkMessage, type NodeProfile } from './protocol.js';
import { SseServerPipe, type SseOutput } from './transports/sse-link-server.js';
import { copyLinkStatus, newLinkStatus, type LinkStatus } from './status.js';

/** A client node that presented a valid session token. */
export interface LinkPrincipal {
  nodeId: string;
  registration: ClientNode;
  sessionExpiresAt: number;
}

export interface LinkServerDeps {
  self: NodeProfile;
  /** core.sessions.authenticate: the actor of a session token (throws UNAUTHENTICATED / SESSION_EXPIRED). */
  authenticate(token: string): Promise<Actor>;
  getSession(tokenHash: string): Promise<{ expiresAt: number } | null>;
  getClientNode(id: string): Promise<ClientNode | null>;
  recordPeer(profile: NodeProfile): Promise<void>;
  /** The channel names a change touches (for a registration's channel permissions). */
  channelNamesOf(change: Change): Promise<string[]>;
  replication: ReplicationContext;
  handlers: readonly LinkMessageHandler[];
  maxMessageBytes: number;
  log: Logger;
  /** Records an error in metrics (code by peer). */
  countError(peer: string, code: string): void;
}

/** What the HTTP routes of the SSE transport need (src/http/routes/node-link.ts). */
export interface SseLinkEndpoint {
  authenticate(token: string): Promise<LinkPrincipal>;
  openSse(principal: LinkPrincipal, out: SseOutput): SseServerPipe;
  deliver(principal: LinkPrincipal, linkId: string, texts: readonly string[]): void;
}

/** Closed links kept in status so a refusal can still be read there. */
const KEPT_CLOSED = 20;

interface ClientLink {
  link: Link;
  status: LinkStatus;
  principal: LinkPrincipal;
  replication: LinkReplication | null;
  expiry: NodeJS.Timeout | null;
  sse: SseServerPipe | null;
}

export class LinkServer implements SseLinkEndpoint {
  readonly #deps: LinkServerDeps;
  readonly #open = new Map<string, ClientLink>();
  readonly #closed: LinkStatus[] = [];
  #stopping = false;

  constructor(deps: LinkServerDeps) {
    this.#deps = deps;
  }

  /** The principal of a bearer token: a registered client node's valid session. */
  async authenticate(token: string): Promise<LinkPrincipal> {
    if (this.#stopping) throw new MycelError('SHUTTING_DOWN');
    const actor = await this.#deps.authenticate(token);
    if (actor.kind !== 'node') throw new MycelError('FORBIDDEN', { action: 'node link', reason: 'only a client node session opens a node link' });
    const [registration, session] = await Promise.all([this.#deps.getClientNode(actor.nodeId), this.#deps.getSession(sha256Hex(token))]);
    if (!registration || !session) throw new MycelError('UNAUTHENTICATED');
    return { nodeId: actor.nodeId, registration, sessionExpiresAt: session.expiresAt };
  }

  /** Takes over a link whose transport is open (WebSocket upgraded, SSE stream started). */
  accept(pipe: MessagePipe, principal: LinkPrincipal, linkId: string = randomUUID()): Link {
    const status = newLinkStatus(linkId, { pull: false, serve: false });
    status.transport = pipe.transport;
    status.peerNodeId = principal.nodeId;
    status.sessionExpiresAt = principal.sessionExpiresAt;
    const entry: ClientLink = { link: undefined as unknown as Link, status, principal, replication: null, expiry: null, sse: pipe instanceof SseServerPipe ? pipe : null };
    const link = new Link(pipe, {
      maxMessageBytes: this.#deps.maxMessageBytes,
      log: this.#deps.log,
      onMessage: (l, message) => this.#onMessage(entry, message),
      onEnd: (_l, end) => this.#onEnd(linkId, entry, end),
    });
    entry.link = link;
    link.peerNodeId = principal.nodeId;
    this.#open.set(linkId, entry);
    // The session ends the link when it expires; the client logs in again and resumes.
    const ms = principal.sessionExpiresAt - Date.now();
    entry.expiry = setTimeout(() => link.close('SESSION_EXPIRED', 'The session has expired; log in again'), Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    entry.expiry.unref();
    link.start();
    return link;
  }

  /** Starts an SSE link: the pipe writes to `out`; the route passes the client's POSTs to `deliver`. */
  openSse(principal: LinkPrincipal, out: SseOutput): SseServerPipe {
    const linkId = randomUUID();
    const pipe = new SseServerPipe(linkId, out);
    this.accept(pipe, principal, linkId);
    return pipe;
  }

  /** Messages a client POSTed to its SSE link: NODE_LINK_NOT_FOUND unless the link is open and that node's. */
  deliver(principal: LinkPrincipal, linkId: string, texts: readonly string[]): void {
    const entry = this.#open.get(linkId);
    if (!entry || !entry.sse || entry.principal.nodeId !== principal.nodeId || entry.link.closed) throw new MycelError('NODE_LINK_NOT_FOUND', { linkId });
    entry.sse.deliver(texts);
  }

  async #onMessage(entry: ClientLink, message: NetworkMessage): Promise<void> {
    if (entry.replication === null) {
      if (message.t !== 'hello') throw new MycelError('BAD_MESSAGE', { reason: 'the first message must be hello' });
      await this.#hello(entry, message);
      return;
    }
    if (await entry.replication.handle(message)) return;
    for (const handler of this.#deps.handlers) if (handler.onMessage(entry.link, message)) return;
    throw new MycelError('BAD_MESSAGE', { reason: `no handler for ${message.t}` });
  }

  async #hello(entry: ClientLink, hello: HelloMessage): Promise<void> {
    const { principal, status, link } = entry;
    if (hello.v !== PROTOCOL_VERSION) throw new MycelError('BAD_MESSAGE', { reason: 'protocol version', version: hello.v, supported: PROTOCOL_VERSION });
    if (hello.node.id.toLowerCase() !== principal.nodeId) throw new MycelError('NODE_ID_MISMATCH', { session: principal.nodeId, hello: hello.node.id });
    // Read again: the registration may have changed since the token was checked.
    const registration = (await this.#deps.getClientNode(principal.nodeId)) ?? principal.registration;
    const role = registration.role;
    if (hello.wants.pull && role === 'parent') throw new MycelError('NODE_ROLE_REFUSED', { asked: 'pull (child)', registered: role });
    if (hello.wants.serve && role === 'child') throw new MycelError('NODE_ROLE_REFUSED', { asked: 'serve (parent)', registered: role });
    await this.#deps.recordPeer(hello.node);
    status.peerName = hello.node.name;
    // This node's roles mirror the client's.
    status.roles = { pull: hello.wants.serve, serve: hello.wants.pull };
    const patterns = registration.channels;
    const channelNamesOf = this.#deps.channelNamesOf;
    // A filtered link carries the changes of its permitted channels only: a change that names
    // no channel (a blob record, compute jobs and their partials) is not one of them.
    const permits =
      patterns.length === 0
        ? null
        : async (change: Change) => {
            const names = await channelNamesOf(change);
            return names.length > 0 && names.every((name) => channelPermitted(patterns, name));
          };
    entry.replication = new LinkReplication(link, this.#deps.replication, {
      pull: status.roles.pull,
      serve: status.roles.serve,
      permits,
      status,
      noteError: (err) => this.#noteError(status, err),
    });
    link.send({ t: 'hello', v: PROTOCOL_VERSION, node: this.#deps.self, wants: { pull: status.roles.pull, serve: status.roles.serve } });
    status.state = 'connected';
    this.#deps.log.info({ peer: principal.nodeId, link: status.id, transport: link.transport, roles: status.roles }, 'node link accepted');
    await entry.replication.start();
    status.cursor = entry.replication.sinkCursor;
  }

  #noteError(status: LinkStatus, err: unknown): void {
    const code = isMycelError(err) ? err.code : 'INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    status.lastError = { code, message, at: Date.now() };
    if (status.peerNodeId) this.#deps.countError(status.peerNodeId, code);
  }

  #onEnd(linkId: string, entry: ClientLink, end: LinkEnd | null): void {
    if (entry.expiry) clearTimeout(entry.expiry);
    entry.replication?.stop();
    this.#open.delete(linkId);
    const { status } = entry;
    status.state = 'stopped';
    if (end && !(end.byPeer && end.code === 'LINK_CLOSED')) {
      status.lastError = { code: end.code, message: end.message, at: Date.now() };
      this.#deps.countError(entry.principal.nodeId, end.code);
      this.#deps.log.warn({ peer: entry.principal.nodeId, link: linkId, code: end.code, byPeer: end.byPeer, reason: end.message }, 'node link ended with an error');
    } else {
      this.#deps.log.info({ peer: entry.principal.nodeId, link: linkId }, 'node link closed');
    }
    this.#closed.push(status);
    if (this.#closed.length > KEPT_CLOSED) this.#closed.shift();
    for (const handler of this.#deps.handlers) handler.onLinkClosed?.(entry.link);
  }

  /** Open links (by peer) where this node pulls from the client (role reversal). */
  servingLinks(): Link[] {
    return [...this.#open.values()].filter((e) => e.status.roles.serve && e.status.state === 'connected').map((e) => e.link);
  }

  pullingLinks(): Link[] {
    return [...this.#open.values()].filter((e) => e.status.roles.pull && e.status.state === 'connected').map((e) => e.link);
  }

  status(): LinkStatus[] {
    return [...[...this.#open.values()].map((e) => copyLinkStatus(e.status)), ...this.#closed.map(copyLinkStatus)];
  }

  /** Closes every link (node shutdown) and accepts no more. */
  close(): void {
    this.#stopping = true;
    for (const entry of [...this.#open.values()]) entry.link.close('SHUTTING_DOWN', 'The node is shutting down');
  }
}
