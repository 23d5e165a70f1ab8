/**
 * What a ClientConnection and its command handlers need from the node. RealtimeNode builds one;
 * keeping it an interface keeps client-connection.ts and the handlers free of the node.
 */
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { TokenVerifier } from './auth/tokens.js';
import type { Bus } from './bus.js';
import type { Hub } from './hub.js';
import type { RealtimeMetrics } from './metrics.js';
import type { Namespaces, ResolvedChannel } from './namespaces.js';
import type { PresenceStore } from './presence-store.js';
import type { ClientInfo, HistoryQuery, HistoryResult, StreamPosition } from './types.js';

export type RealtimeConfig = Config['realtime'];

/** Timings that are not user configuration but tests need to shorten. */
export interface RealtimeTuning {
  /** How often sessions check their timers (pings, pongs, expiry, presence). */
  tickMs: number;
  /** A connection that has not connected after this long is closed with 3502. */
  staleMs: number;
  /** Grace after `exp` before an unrefreshed connection (3005) or subscription (2501/3006) is closed. */
  expiredCloseDelayMs: number;
  /** How often this instance announces its stats to the others (server API `info`). */
  nodeInfoIntervalMs: number;
  /** Seconds a stream's position outlives its last publication (history meta TTL). */
  streamMetaTtlSeconds: number;
}

export const DEFAULT_TUNING: RealtimeTuning = {
  tickMs: 1000,
  staleMs: 10_000,
  expiredCloseDelayMs: 25_000,
  nodeInfoIntervalMs: 5000,
  streamMetaTtlSeconds: 30 * 24 * 3600,
};

/** Context of a client call to an rpc or send handler. */
export interface ClientContext {
  client: string;
  user: string;
  owner: boolean;
  connInfo: unknown;
  transport: string;
}

/** Handles an `rpc` command; throw ReplyError to answer with an error code (400-1999 for apps). */
export type RpcHandler = (ctx: ClientContext, data: unknown) => Promise<unknown> | unknown;
/** Handles a `send` command (no reply). */
export type SendHandler = (ctx: ClientContext, data: unknown) => void;

/**
 * Authenticates a connect token that is not a JWT (e.g. an owner session token of the console).
 * Resolves null when the token is unknown.
 */
export type ConnectCredentials = (token: string) => Promise<{ user: string; owner: boolean; info?: unknown } | null>;

export interface PublishOptions {
  info?: ClientInfo;
  tags?: Record<string, string>;
  /** Publish without keeping it in history (no offset). */
  skipHistory?: boolean;
  /**
   * Persisted namespaces only: the key is stored with the post in its transaction, so a
   * publish repeated with the same key (after a restart, on another instance) answers with
   * the first one's position and writes nothing. Other namespaces ignore it (the server API
   * keeps its own per-instance cache for them).
   */
  idempotencyKey?: string;
}

export interface PublishOutcome {
  /** Present when the publication got a stream position. */
  position: StreamPosition | null;
}

export interface RealtimeContext {
  readonly config: RealtimeConfig;
  readonly tuning: RealtimeTuning;
  /** This process's id in the cluster (not the node's id: several instances can serve one node). */
  readonly instanceId: string;
  readonly version: string;
  readonly namespaces: Namespaces;
  readonly tokens: TokenVerifier;
  readonly hub: Hub;
  readonly bus: Bus;
  readonly presence: PresenceStore;
  readonly metrics: RealtimeMetrics;
  readonly log: Logger;
  readonly credentials: ConnectCredentials | undefined;
  rpcHandler(method: string): RpcHandler | undefined;
  sendHandler(): SendHandler | undefined;
  /** Publishes to a resolved channel: persisted namespaces go through the write path. */
  publish(resolved: ResolvedChannel, data: unknown, options: PublishOptions, actor: { user: string; owner: boolean } | null): Promise<PublishOutcome>;
  /** History of a channel from the history store or, for persisted namespaces, the database. */
  history(resolved: ResolvedChannel, query: Omit<HistoryQuery, 'metaTtlSeconds'>): Promise<HistoryResult>;
  /** Publishes a join/leave of a client to a channel. */
  publishJoinLeave(channel: string, type: 'join' | 'leave', info: ClientInfo): void;
}
