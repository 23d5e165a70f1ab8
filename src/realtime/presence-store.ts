import type { ClientInfo } from './types.js';

/**
 * Who is in which channel, across instances. Entries expire `ttlSeconds` after their last
 * add/refresh, so the clients of an instance that died disappear without anyone removing them.
 * Conformance suite: test/integration/realtime-presence-conformance.test.ts.
 */
export interface PresenceStore {
  /** Adds or refreshes a client in a channel (also indexes the channel under the user). */
  add(channel: string, info: ClientInfo, ttlSeconds: number): Promise<void>;
  /** Removes a client from a channel. */
  remove(channel: string, clientId: string, user: string): Promise<void>;
  /** Clients present in a channel, by client id. */
  presence(channel: string): Promise<Record<string, ClientInfo>>;
  stats(channel: string): Promise<{ numClients: number; numUsers: number }>;
  /** Replaces a user's connInfo/chanInfo in a channel for all of that user's clients there. */
  updateUserInfo(channel: string, user: string, update: { connInfo?: unknown; chanInfo?: unknown }): Promise<void>;
  /** Channels where the user has at least one live client. */
  userChannels(user: string): Promise<string[]>;
  /** Removes all of a user's clients from every channel; returns the channels they left. */
  removeUser(user: string): Promise<string[]>;
  close(): Promise<void>;
}
