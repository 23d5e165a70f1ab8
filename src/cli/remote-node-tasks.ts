import type { ContentDigest } from '../domain/digest.js';
import { formatDigest } from '../domain/digest.js';
import type { NodeClient } from './node-client.js';

/** `mycel --node URL info` and `mycel --node URL digest`: the local commands' output, from a node's REST API. */

interface NodeProfile {
  id: string;
  name: string;
  version: string;
  createdAt: number;
  schemaVersion: number;
}

type WhoAmI = { actor: { kind: string; nodeId?: string; asOwner?: boolean } };

/** `info` on a remote node: its profile, and whom this command is logged in as there. */
export async function runRemoteInfo(client: NodeClient, options: { json?: boolean }): Promise<void> {
  const [profile, who] = await Promise.all([client.get<NodeProfile>('/api/v1/node'), client.get<WhoAmI>('/api/v1/session')]);
  const actor = who.actor.kind === 'node' ? `node ${who.actor.nodeId}${who.actor.asOwner ? ' (owner rights)' : ''}` : who.actor.kind;
  const info = {
    nodeId: profile.id,
    name: profile.name,
    createdAt: new Date(profile.createdAt).toISOString(),
    url: client.url,
    version: profile.version,
    schemaVersion: profile.schemaVersion,
    loggedInAs: actor,
  };
  if (options.json) process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
  else for (const [key, value] of Object.entries(info)) process.stdout.write(`${key.padEnd(17)}${String(value)}\n`);
}

/** `digest` on a remote node: GET /api/v1/digest, printed as the local command prints it. */
export async function runRemoteDigest(client: NodeClient, options: { json?: boolean }): Promise<void> {
  const digest = await client.get<ContentDigest>('/api/v1/digest');
  process.stdout.write(options.json ? `${JSON.stringify(digest)}\n` : `${formatDigest(digest)}\n`);
}
