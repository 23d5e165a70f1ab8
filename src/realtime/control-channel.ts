/**
 * The user operations of the server API (subscribe, unsubscribe, disconnect, refresh a user's
 * connections) and emulation requests for another instance travel over the Bus control
 * channel, so every instance acts on its own connections. This sends them and acts on the
 * ones that arrive; the cluster survey's messages go to the ClusterSurvey.
 */
import type { Bus } from './bus.js';
import type { ClusterSurvey } from './cluster-survey.js';
import type { ClientConnection } from './client-connection.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { Namespaces } from './namespaces.js';
import { DISCONNECTS, type DisconnectCode } from './protocol/codes.js';
import type { ControlCommand } from './types.js';

export interface DisconnectUserOptions {
  client?: string;
  /** Client ids to keep connected. */
  whitelist?: string[];
  /** Default: 3503 force disconnect (terminal). Use 3011 force reconnect to let clients come back. */
  disconnect?: DisconnectCode;
}

export interface RefreshUserOptions {
  client?: string;
  /** Disconnect the user's connections as expired (3005). */
  expired?: boolean;
  /** New expiry, unix seconds (0 = never). */
  expireAt?: number;
}

export interface ControlChannelDeps {
  bus: Bus;
  instanceId: string;
  connections: ConnectionRegistry;
  survey: ClusterSurvey;
  namespaces: Namespaces;
  /** Subscribes a connection server-side (see server-subscribe.ts). */
  serverSubscribe(conn: ClientConnection, channel: string): Promise<void>;
}

export class ControlChannel {
  readonly #deps: ControlChannelDeps;

  constructor(deps: ControlChannelDeps) {
    this.#deps = deps;
  }

  /** Subscribes a user's connections (or one client) to a channel, server-side. */
  async subscribeUser(user: string, channel: string, client?: string): Promise<void> {
    this.#deps.namespaces.resolve(channel);
    await this.#deps.bus.publishControl({ type: 'subscribe', user, channel, ...(client ? { client } : {}) });
  }

  /** Unsubscribes a user's connections (or one client) from a channel (unsubscribe push 2000). */
  async unsubscribeUser(user: string, channel: string, client?: string): Promise<void> {
    await this.#deps.bus.publishControl({ type: 'unsubscribe', user, channel, ...(client ? { client } : {}) });
  }

  /** Disconnects a user's connections; by default with 3503 (force disconnect, no reconnect). */
  async disconnectUser(user: string, options: DisconnectUserOptions = {}): Promise<void> {
    const d = options.disconnect ?? DISCONNECTS.forceDisconnect;
    await this.#deps.bus.publishControl({
      type: 'disconnect',
      user,
      code: d.code,
      reason: d.reason,
      ...(options.client ? { client: options.client } : {}),
      ...(options.whitelist ? { whitelist: options.whitelist } : {}),
    });
  }

  /** Refreshes a user's connections from the server side: a new expiry, or expired now. */
  async refreshUser(user: string, options: RefreshUserOptions = {}): Promise<void> {
    await this.#deps.bus.publishControl({
      type: 'refresh',
      user,
      ...(options.client ? { client: options.client } : {}),
      ...(options.expired ? { expired: true } : {}),
      ...(options.expireAt !== undefined ? { expireAt: options.expireAt } : {}),
    });
  }

  /**
   * Hands the commands of an emulation request (`data`: lines joined by `\n`) to the connection
   * with key `sessionKey` held by instance `node`: directly when that is this instance, else
   * over the Bus control channel (only `node` acts on it). Resolves false when `node` is this
   * instance and the connection is not here any more: the client should reconnect.
   */
  async emulate(node: string, sessionKey: string, data: string): Promise<boolean> {
    if (node !== this.#deps.instanceId) {
      await this.#deps.bus.publishControl({ type: 'emulation', node, session: sessionKey, data });
      return true;
    }
    const conn = this.#deps.connections.byKey(sessionKey);
    if (!conn) return false;
    conn.handleFrame(data);
    return true;
  }

  /** The Bus handler for control messages. */
  handle(command: ControlCommand): void {
    const { connections } = this.#deps;
    switch (command.type) {
      case 'disconnect':
        for (const c of connections.targets(command.user, command.client)) {
          if (command.whitelist?.includes(c.id)) continue;
          c.close({ code: command.code, reason: command.reason });
        }
        return;
      case 'subscribe':
        for (const c of connections.targets(command.user, command.client)) void this.#deps.serverSubscribe(c, command.channel);
        return;
      case 'unsubscribe':
        for (const c of connections.targets(command.user, command.client)) c.unsubscribe(command.channel);
        return;
      case 'refresh':
        for (const c of connections.targets(command.user, command.client)) {
          if (command.expired) c.close(DISCONNECTS.expired);
          else if (command.expireAt !== undefined) c.expireAt = command.expireAt;
        }
        return;
      case 'emulation':
        if (command.node === this.#deps.instanceId) connections.byKey(command.session)?.handleFrame(command.data);
        return;
      case 'node-info':
      case 'channels-request':
      case 'channels-reply':
        this.#deps.survey.handle(command);
        return;
    }
  }
}
