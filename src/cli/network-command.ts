import { MycelError } from '../errors.js';
import type { LinkStatus, NetworkStatus, ServerEntryView, ServerRole, ServerTransport } from '../network/network-service.js';
import type { NodeClient } from './node-client.js';
import type { PasswordInput } from './password-input.js';

/**
 * `mycel nodes status|connect|disconnect`: the node network of a running node, always over its
 * REST API (/api/v1/network), since the links live in the running process: the local node at
 * its configured address, or another with --node.
 */

const write = (text: string): void => void process.stdout.write(text);
const iso = (ms: number): string => new Date(ms).toISOString();

function describeLink(kind: 'server' | 'client', l: LinkStatus): string {
  const peer = l.peerNodeId === null ? 'peer not known yet' : `peer ${l.peerName ?? '?'} ${l.peerNodeId}`;
  const roles = [l.roles.pull ? 'pulls' : '', l.roles.serve ? 'serves' : ''].filter(Boolean).join(' and ') || 'no data role';
  const lines = [`${kind} ${l.id}${l.url ? ` ${l.url}` : ''} (${peer})`];
  lines.push(`  state ${l.state}, transport ${l.transport ?? '-'}, this node ${roles}`);
  const lag = l.lagChanges === null ? 'lag -' : `lag ${l.lagChanges} changes${l.lagSeconds === null ? '' : ` / ${l.lagSeconds.toFixed(1)} s`}`;
  lines.push(`  cursor ${l.cursor ?? '-'}, ${lag}, imported ${l.importedTotal}, sent ${l.sentTotal}`);
  lines.push(`  session expires ${l.sessionExpiresAt === null ? '-' : iso(l.sessionExpiresAt)}`);
  if (l.lastError) lines.push(`  last error ${l.lastError.code}: ${l.lastError.message} (${iso(l.lastError.at)})`);
  return `${lines.join('\n')}\n`;
}

export async function runNetworkStatus(client: NodeClient, json: boolean): Promise<void> {
  const status = await client.get<NetworkStatus>('/api/v1/network/status');
  if (json) return write(`${JSON.stringify(status, null, 2)}\n`);
  write(status.servers.length === 0 ? 'no servers: this node connects to none\n' : status.servers.map((l) => describeLink('server', l)).join(''));
  write(status.clients.length === 0 ? 'no clients: no client node is connected\n' : status.clients.map((l) => describeLink('client', l)).join(''));
}

export interface ConnectOptions {
  url: string;
  role: ServerRole;
  transport?: ServerTransport;
  /** Name of an environment variable holding the password (`--password-env`). */
  passwordEnv?: string;
  json: boolean;
}

/** The password this node is registered with at the server: from `--password-env VAR`, else read (after the credential). */
async function serverPassword(options: ConnectOptions, passwords: PasswordInput): Promise<string> {
  if (options.passwordEnv !== undefined) {
    const value = process.env[options.passwordEnv];
    if (value === undefined || value === '') {
      throw new MycelError('VALIDATION_FAILED', { field: 'password-env' }, `--password-env names ${options.passwordEnv}, which is not set`);
    }
    return value;
  }
  return passwords.read(`Password of this node at ${options.url}: `);
}

export async function runNetworkConnect(client: NodeClient, options: ConnectOptions, passwords: PasswordInput): Promise<void> {
  const password = await serverPassword(options, passwords);
  const entry = await client.request<ServerEntryView>('POST', '/api/v1/network/servers', {
    url: options.url,
    password,
    role: options.role,
    ...(options.transport ? { transport: options.transport } : {}),
  });
  if (options.json) return write(`${JSON.stringify(entry, null, 2)}\n`);
  write(`connecting to ${entry.url} as ${entry.role} (transport ${entry.transport}); server entry ${entry.id}\n`);
}

export async function runNetworkDisconnect(client: NodeClient, id: string): Promise<void> {
  await client.request('DELETE', `/api/v1/network/servers/${encodeURIComponent(id)}`);
  write(`disconnected; server entry ${id} removed\n`);
}
