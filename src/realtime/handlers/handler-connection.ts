/**
 * The connection as the command handlers see it. `ClientConnection` implements it; the
 * handlers depend on this interface, not on the class that dispatches to them, so the
 * connection → handlers import runs one way.
 */
import type { DisconnectCode } from '../protocol/codes.js';
import type { ResultByMethod } from '../protocol/frames.js';
import type { ClientContext, RealtimeContext } from '../context.js';
import type { Subscriber, Subscription } from '../subscription.js';
import type { Transport } from '../transport.js';
import type { ClientInfo } from '../types.js';

/** connecting → connected → closed; see ClientConnection. */
export type ConnectionState = 'connecting' | 'connected' | 'closed';

export interface HandlerConnection extends Subscriber {
  readonly state: ConnectionState;
  readonly ctx: RealtimeContext;
  readonly sessionKey: string;
  readonly transport: Transport;
  readonly subs: Map<string, Subscription>;
  user: string;
  owner: boolean;
  connInfo: unknown;
  expireAt: number;
  clientName: string;
  clientVersion: string;
  /** A connect command is being handled (a second one is a bad request). */
  connectStarted: boolean;
  isClosed(): boolean;
  clientInfo(chanInfo?: unknown): ClientInfo;
  clientContext(): ClientContext;
  reply<M extends keyof ResultByMethod>(id: number, method: M, result: ResultByMethod[M]): void;
  close(disconnect: DisconnectCode): void;
  markConnected(): boolean;
  activate(sub: Subscription): void;
  removeSubscription(sub: Subscription, announce: boolean): void;
  subscriptionExpiryChanged(sub: Subscription, previousExpireAt: number): void;
}
