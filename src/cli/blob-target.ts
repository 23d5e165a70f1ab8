import type { Command } from 'commander';
import { resolveBlobsDir } from '../config/load.js';
import { MycelError } from '../errors.js';
import { remoteContent, type ContentAccess } from './content-access.js';
import { NodeClient, nodeBaseUrl } from './node-client.js';
import { configFromCommand } from './options.js';
import type { PasswordInput } from './password-input.js';
import { localNodeUrl, passwordInputOf, remoteUrlOf, withNodeClient, withRemote } from './remote-target.js';
import { sharedAccessOf, tokenUnreadable, type SharedAccess, type SharedMount } from './shared-mount.js';

/**
 * Where `mycel store|cat|load` run: always on a running node over its REST API, so the bytes go
 * through the one process that owns the blob store and the write path: the node of --node /
 * MYCEL_NODE_URL, else the local node at server.host and server.port (as `mycel nodes status`),
 * as its owner (owner.password / MYCEL_OWNER_PASSWORD, standard input or a prompt) or --as-node.
 * With blobs.dir (MYCEL_STORAGE_DIR) set to a mount of a shared node's storage directory whose
 * node-id names that node, the group's client token is the credential instead (unless --as-node
 * is given) and `work` gets the mount to read from (docs/shared-node.md).
 */
export async function withBlobNode(cmd: Command, work: (node: NodeClient, content: ContentAccess, passwords: PasswordInput, mount: SharedMount | null) => Promise<void>): Promise<void> {
  const passwords = passwordInputOf(cmd);
  const config = configFromCommand(cmd);
  const url = remoteUrlOf(cmd) ?? localNodeUrl(config);
  const shared: SharedAccess =
    config.blobs.dir === undefined || nonEmpty(cmd.optsWithGlobals<{ asNode?: string }>().asNode) !== undefined
      ? { kind: 'none' }
      : await sharedAccessOf(resolveBlobsDir(config), new NodeClient(url), (line) => process.stderr.write(`${line}\n`));
  if (shared.kind === 'member') {
    const client = new NodeClient(url);
    client.useToken(shared.mount.token);
    return work(client, remoteContent(client), passwords, shared.mount);
  }
  const run = (client: NodeClient) => work(client, remoteContent(client), passwords, null);
  try {
    if (remoteUrlOf(cmd) !== undefined) return await withRemote(cmd, url, passwords, run);
    return await withNodeClient(cmd, url, passwords, config.owner.password, run);
  } catch (err) {
    // No password to fall back on: the clear reason is the file this user may not read.
    if (shared.kind === 'unreadable' && err instanceof MycelError && err.code === 'VALIDATION_FAILED' && err.details?.field === 'password') throw tokenUnreadable(shared.path, err);
    throw err;
  }
}

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

/**
 * Logs in at the source node of `mycel load --from URL`: as its owner (MYCEL_FROM_OWNER_PASSWORD,
 * else standard input or a prompt), or with --from-as-node ID as a client node registered there
 * (MYCEL_FROM_NODE_PASSWORD, else standard input or a prompt). Read before the target's credential.
 */
export async function withSourceNode(rawUrl: string, asNode: string | undefined, passwords: PasswordInput, work: (from: NodeClient) => Promise<void>): Promise<void> {
  const url = nodeBaseUrl(rawUrl);
  const client = new NodeClient(url);
  const read = async (prompt: string, variable: string): Promise<string> => {
    try {
      return await passwords.read(prompt);
    } catch (err) {
      if (err instanceof MycelError && err.code === 'VALIDATION_FAILED') {
        throw new MycelError('VALIDATION_FAILED', { field: 'password' }, `No password for ${url}: set ${variable}, pipe it in (--password-stdin), or run on a terminal to be asked`);
      }
      throw err;
    }
  };
  if (nonEmpty(asNode) !== undefined) {
    const password = nonEmpty(process.env.MYCEL_FROM_NODE_PASSWORD) ?? (await read(`Password of node ${asNode} at ${url}: `, 'MYCEL_FROM_NODE_PASSWORD'));
    await client.login({ kind: 'node', nodeId: asNode!, password });
  } else {
    const password = nonEmpty(process.env.MYCEL_FROM_OWNER_PASSWORD) ?? (await read(`Owner password of ${url}: `, 'MYCEL_FROM_OWNER_PASSWORD'));
    await client.login({ kind: 'owner', password });
  }
  try {
    await work(client);
  } finally {
    await client.logout();
  }
}
