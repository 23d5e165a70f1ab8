import type { PresenceStore } from '../presence-store.js';
import type { ClientInfo } from '../types.js';
import { MycelError } from '../../errors.js';
import { ttlMs } from '../stream-rules.js';

interface Entry {
  info: ClientInfo;
  expireAt: number;
}

interface ChannelPresence {
  clients: Map<string, Entry>;
  /** Live clients per user, so stats need no scan. */
  users: Map<string, number>;
}

/**
 * The presence data of one process, shareable by several MemoryPresenceStores (the memory
 * stand-in for several instances on one Redis). Same model as redis-presence-store.ts: an
 * entry is live while now < expireAt; expired entries are dropped lazily by every operation
 * on their channel/user and by a periodic unref'd sweep while a store is open.
 */
export class MemoryPresenceState {
  private readonly channels = new Map<string, ChannelPresence>();
  /** user → channel → client → expireAt. */
  private readonly users = new Map<string, Map<string, Map<string, number>>>();
  private readonly sweepIntervalMs: number;
  private sweepTimer: NodeJS.Timeout | undefined;
  private refs = 0;

  constructor(options: { sweepIntervalMs?: number } = {}) {
    this.sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  }

  acquire(): void {
    this.refs++;
    if (!this.sweepTimer) {
      this.sweepTimer = setInterval(() => this.sweep(), this.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  release(): void {
    this.refs--;
    if (this.refs <= 0 && this.sweepTimer) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = undefined;
    }
  }

  add(channel: string, info: ClientInfo, ttlSeconds: number): void {
    const now = Date.now();
    this.pruneChannel(channel, now);
    const expireAt = now + ttlMs(ttlSeconds);
    const existing = this.channels.get(channel)?.clients.get(info.client);
    const sameUser = existing !== undefined && existing.info.user === info.user;
    // A client id that comes back under another user is a new entry for that user.
    if (existing && !sameUser) this.dropClient(channel, info.client);
    let cp = this.channels.get(channel);
    if (!cp) {
      cp = { clients: new Map(), users: new Map() };
      this.channels.set(channel, cp);
    }
    if (!sameUser) cp.users.set(info.user, (cp.users.get(info.user) ?? 0) + 1);
    cp.clients.set(info.client, { info: copyInfo(info), expireAt });
    let byChannel = this.users.get(info.user);
    if (!byChannel) {
      byChannel = new Map();
      this.users.set(info.user, byChannel);
    }
    let clients = byChannel.get(channel);
    if (!clients) {
      clients = new Map();
      byChannel.set(channel, clients);
    }
    clients.set(info.client, expireAt);
  }

  remove(channel: string, clientId: string, user: string): void {
    this.pruneChannel(channel, Date.now());
    if (this.dropClient(channel, clientId) === undefined) this.unindex(user, channel, clientId);
  }

  presence(channel: string): Record<string, ClientInfo> {
    this.pruneChannel(channel, Date.now());
    const out: Record<string, ClientInfo> = {};
    const cp = this.channels.get(channel);
    if (cp) for (const [client, entry] of cp.clients) out[client] = copyInfo(entry.info);
    return out;
  }

  stats(channel: string): { numClients: number; numUsers: number } {
    this.pruneChannel(channel, Date.now());
    const cp = this.channels.get(channel);
    return { numClients: cp?.clients.size ?? 0, numUsers: cp?.users.size ?? 0 };
  }

  updateUserInfo(channel: string, user: string, update: { connInfo?: unknown; chanInfo?: unknown }): void {
    const now = Date.now();
    this.pruneChannel(channel, now);
    const cp = this.channels.get(channel);
    const clients = this.users.get(user)?.get(channel);
    if (!cp || !clients) return;
    for (const client of clients.keys()) {
      const entry = cp.clients.get(client);
      if (!entry || entry.info.user !== user) continue;
      const info = { ...entry.info };
      if (update.connInfo !== undefined) info.connInfo = update.connInfo;
      if (update.chanInfo !== undefined) info.chanInfo = update.chanInfo;
      entry.info = info;
    }
  }

  userChannels(user: string): string[] {
    return [...this.liveUserEntries(user, Date.now()).keys()].sort();
  }

  removeUser(user: string): string[] {
    const entries = this.liveUserEntries(user, Date.now());
    for (const [channel, clients] of entries) for (const client of clients) this.dropClient(channel, client);
    this.users.delete(user);
    return [...entries.keys()].sort();
  }

  /** channel → the user's clients there that are live on the channel side too; drops stale index entries. */
  private liveUserEntries(user: string, now: number): Map<string, string[]> {
    const out = new Map<string, string[]>();
    const byChannel = this.users.get(user);
    if (!byChannel) return out;
    for (const [channel, clients] of byChannel) {
      const cp = this.channels.get(channel);
      for (const [client, expireAt] of clients) {
        const entry = cp?.clients.get(client);
        if (expireAt <= now || !entry || entry.info.user !== user || entry.expireAt <= now) {
          clients.delete(client);
          continue;
        }
        const list = out.get(channel);
        if (list) list.push(client);
        else out.set(channel, [client]);
      }
      if (clients.size === 0) byChannel.delete(channel);
    }
    if (byChannel.size === 0) this.users.delete(user);
    return out;
  }

  /** Removes a client from a channel and from its user's index; returns its user if it was there. */
  private dropClient(channel: string, client: string): string | undefined {
    const cp = this.channels.get(channel);
    const entry = cp?.clients.get(client);
    if (!cp || !entry) return undefined;
    cp.clients.delete(client);
    const user = entry.info.user;
    const count = (cp.users.get(user) ?? 0) - 1;
    if (count <= 0) cp.users.delete(user);
    else cp.users.set(user, count);
    if (cp.clients.size === 0) this.channels.delete(channel);
    this.unindex(user, channel, client);
    return user;
  }

  private unindex(user: string, channel: string, client: string): void {
    const byChannel = this.users.get(user);
    const clients = byChannel?.get(channel);
    if (!byChannel || !clients) return;
    clients.delete(client);
    if (clients.size === 0) byChannel.delete(channel);
    if (byChannel.size === 0) this.users.delete(user);
  }

  private pruneChannel(channel: string, now: number): void {
    const cp = this.channels.get(channel);
    if (!cp) return;
    for (const [client, entry] of cp.clients) if (entry.expireAt <= now) this.dropClient(channel, client);
  }

  private sweep(): void {
    const now = Date.now();
    for (const channel of [...this.channels.keys()]) this.pruneChannel(channel, now);
    for (const user of [...this.users.keys()]) this.liveUserEntries(user, now);
  }
}

function copyInfo(info: ClientInfo): ClientInfo {
  const out: ClientInfo = { user: info.user, client: info.client };
  if (info.connInfo !== undefined) out.connInfo = info.connInfo;
  if (info.chanInfo !== undefined) out.chanInfo = info.chanInfo;
  return out;
}

/** The single-process PresenceStore. Pass one MemoryPresenceState to several stores to share data. */
export class MemoryPresenceStore implements PresenceStore {
  readonly state: MemoryPresenceState;
  private closed = false;

  constructor(options: { state?: MemoryPresenceState } = {}) {
    this.state = options.state ?? new MemoryPresenceState();
    this.state.acquire();
  }

  async add(channel: string, info: ClientInfo, ttlSeconds: number): Promise<void> {
    this.assertOpen();
    if (!(ttlSeconds > 0)) throw new MycelError('VALIDATION_FAILED', { field: 'ttlSeconds', value: ttlSeconds });
    this.state.add(channel, info, ttlSeconds);
  }

  async remove(channel: string, clientId: string, user: string): Promise<void> {
    this.assertOpen();
    this.state.remove(channel, clientId, user);
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    this.assertOpen();
    return this.state.presence(channel);
  }

  async stats(channel: string): Promise<{ numClients: number; numUsers: number }> {
    this.assertOpen();
    return this.state.stats(channel);
  }

  async updateUserInfo(channel: string, user: string, update: { connInfo?: unknown; chanInfo?: unknown }): Promise<void> {
    this.assertOpen();
    this.state.updateUserInfo(channel, user, update);
  }

  async userChannels(user: string): Promise<string[]> {
    this.assertOpen();
    return this.state.userChannels(user);
  }

  async removeUser(user: string): Promise<string[]> {
    this.assertOpen();
    return this.state.removeUser(user);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.state.release();
  }

  private assertOpen(): void {
    if (this.closed) throw new MycelError('SHUTTING_DOWN', { component: 'presence' });
  }
}
