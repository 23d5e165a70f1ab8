/**
 * The client connections of this instance: every one (connecting ones included) for the
 * ticker and shutdown, and the connected ones by client id, by user and by emulation key for
 * the node API and the control messages. Connections report to it through their
 * ConnectionLifecycle.
 */
import { ClientConnection, type ConnectionLifecycle } from './client-connection.js';

export interface ConnectionEvents {
  connect: (conn: ClientConnection) => void;
  disconnect: (conn: ClientConnection, code: number, reason: string) => void;
}

export class ConnectionRegistry implements ConnectionLifecycle {
  /** Every connection, connecting ones included. */
  readonly #all = new Set<ClientConnection>();
  /** A user's connected connections: the connection itself while it is the only one (the common case, and less memory). */
  readonly #byUser = new Map<string, ClientConnection | Set<ClientConnection>>();
  readonly #byClient = new Map<string, ClientConnection>();
  readonly #byKey = new Map<string, ClientConnection>();
  readonly #listeners: { [E in keyof ConnectionEvents]: Set<ConnectionEvents[E]> } = { connect: new Set(), disconnect: new Set() };

  /** Connected connections. */
  get connectedCount(): number {
    return this.#byClient.size;
  }

  /** Users with a connected connection. */
  get userCount(): number {
    return this.#byUser.size;
  }

  /** A new connection, still connecting. */
  add(conn: ClientConnection): void {
    this.#all.add(conn);
  }

  /** The connection an emulation request belongs to, by the `session` key of its connect result. */
  byKey(key: string): ClientConnection | undefined {
    return this.#byKey.get(key);
  }

  byClient(client: string): ClientConnection | undefined {
    return this.#byClient.get(client);
  }

  /** Connected connections of a user. */
  ofUser(user: string): ClientConnection[] {
    const entry = this.#byUser.get(user);
    return entry === undefined ? [] : entry instanceof ClientConnection ? [entry] : [...entry];
  }

  /** What a user-targeted control message reaches: the user's connections, or one client (of any user when `user` is ""). */
  targets(user: string, client: string | undefined): ClientConnection[] {
    if (user === '' && client) {
      const conn = this.#byClient.get(client);
      return conn ? [conn] : [];
    }
    return this.ofUser(user).filter((c) => !client || c.id === client);
  }

  on<E extends keyof ConnectionEvents>(event: E, listener: ConnectionEvents[E]): () => void {
    const set = this.#listeners[event] as Set<ConnectionEvents[E]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  connected(conn: ClientConnection): void {
    this.#byClient.set(conn.id, conn);
    if (conn.sessionKey) this.#byKey.set(conn.sessionKey, conn);
    const entry = this.#byUser.get(conn.user);
    if (entry === undefined) this.#byUser.set(conn.user, conn);
    else if (entry instanceof ClientConnection) this.#byUser.set(conn.user, new Set([entry, conn]));
    else entry.add(conn);
    for (const l of this.#listeners.connect) l(conn);
  }

  closed(conn: ClientConnection, code: number, reason: string): void {
    this.#all.delete(conn);
    if (this.#byClient.get(conn.id) === conn) {
      this.#byClient.delete(conn.id);
      if (conn.sessionKey) this.#byKey.delete(conn.sessionKey);
      const entry = this.#byUser.get(conn.user);
      if (entry === conn) this.#byUser.delete(conn.user);
      else if (entry instanceof Set) {
        entry.delete(conn);
        if (entry.size === 0) this.#byUser.delete(conn.user);
      }
    }
    for (const l of this.#listeners.disconnect) l(conn, code, reason);
  }

  /** The node's ticker: every connection checks its timers. */
  tick(now: number): void {
    for (const conn of this.#all) conn.onTick(now);
  }

  /** A snapshot of every connection (shutdown closes them while the set changes). */
  all(): ClientConnection[] {
    return [...this.#all];
  }
}
