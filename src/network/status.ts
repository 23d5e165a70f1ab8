/** Helpers for the live status records behind NetworkService.status() (types: network-service.ts). */
import type { LinkStatus } from './network-service.js';

export type { LinkStatus, NetworkStatus } from './network-service.js';

/** A fresh status entry. */
export function newLinkStatus(id: string, roles: { pull: boolean; serve: boolean }, url?: string): LinkStatus {
  return {
    id,
    ...(url === undefined ? {} : { url }),
    peerNodeId: null,
    peerName: null,
    roles,
    transport: null,
    state: 'connecting',
    cursor: null,
    lagChanges: null,
    lagSeconds: null,
    lastError: null,
    sessionExpiresAt: null,
    importedTotal: 0,
    sentTotal: 0,
  };
}

/** A copy for callers, so nobody holds the live record. */
export function copyLinkStatus(status: LinkStatus): LinkStatus {
  return { ...status, roles: { ...status.roles }, lastError: status.lastError ? { ...status.lastError } : null };
}
