import { pino } from 'pino';
import { openNodeCore, type NodeCore } from '../../src/domain/node-core.js';
import type { IdentityOptions } from '../../src/domain/node-identity.js';
import type { Storage } from '../../src/storage/storage.js';

/** A logger that drops everything; tests that read logs pass their own. */
export const silentLog = pino({ level: 'silent' });

/** Opens a node core on a storage made by a test backend. */
export function openTestCore(storage: Storage, identity: IdentityOptions = { name: 'test-node', ownerPassword: 'owner-secret' }, sessionMinutes = 60): Promise<NodeCore> {
  return openNodeCore(storage, { identity, sessionMinutes, log: silentLog });
}
