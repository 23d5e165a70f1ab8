import { MycelError } from '../errors.js';
import { newId } from '../lib/ids.js';
import { unstorableStringReason } from '../lib/json-limits.js';
import { SERVER_ROLES, SERVER_TRANSPORTS, type NetworkServerRecord, type ServerRole, type ServerTransport } from '../model/network.js';
import type { Storage } from '../storage/storage.js';

function invalid(field: string, reason: string): MycelError {
  return new MycelError('VALIDATION_FAILED', { field, reason }, `${field}: ${reason}`);
}

/**
 * The servers this node connects to that were added at run time (`mycel nodes connect`, REST),
 * kept in `network_servers` so they survive a restart; servers from the config file are not
 * stored. Like the client-node registry this is the node's own configuration, not replicated
 * content: written straight to storage, never to the change log. Callers check owner rights.
 */
export class NetworkServers {
  constructor(
    private readonly storage: Storage,
    private readonly clock: () => number = Date.now,
  ) {}

  list(): Promise<NetworkServerRecord[]> {
    return this.storage.listNetworkServers();
  }

  async add(entry: { url: string; password: string; role?: ServerRole; transport?: ServerTransport }): Promise<NetworkServerRecord> {
    let url: URL;
    try {
      url = new URL(entry.url);
    } catch {
      throw invalid('url', 'must be an absolute http:// or https:// URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('url', 'must be an absolute http:// or https:// URL');
    if (url.username !== '' || url.password !== '') throw invalid('url', 'must not carry credentials; give the password separately');
    if (typeof entry.password !== 'string' || entry.password.length === 0 || unstorableStringReason(entry.password) !== null) {
      throw invalid('password', 'must be a non-empty string');
    }
    const role = entry.role ?? 'child';
    if (!SERVER_ROLES.includes(role)) throw invalid('role', `must be one of ${SERVER_ROLES.join(', ')}`);
    const transport = entry.transport ?? 'auto';
    if (!SERVER_TRANSPORTS.includes(transport)) throw invalid('transport', `must be one of ${SERVER_TRANSPORTS.join(', ')}`);
    const record: NetworkServerRecord = { id: newId(), url: entry.url, password: entry.password, role, transport, createdAt: this.clock() };
    await this.storage.transaction((tx) => tx.insertNetworkServer(record));
    return record;
  }

  /** Removes a stored server; false when there is none with that id. */
  remove(id: string): Promise<boolean> {
    return this.storage.transaction((tx) => tx.deleteNetworkServer(id));
  }
}
