import type { Command } from 'commander';
import type { ContentAccess } from './content-access.js';
import { configFromCommand } from './options.js';
import { assertNoAsNode, passwordInputOf, remoteUrlOf, withRemote } from './remote-target.js';

/**
 * Runs a `channels`/`posts` command on the node it addresses: the remote one of --node /
 * MYCEL_NODE_URL over REST, else the local data directory through the Operator as the owner.
 */
export async function withContent(cmd: Command, work: (content: ContentAccess) => Promise<void>): Promise<void> {
  const { localContentRun, remoteContent } = await import('./content-access.js');
  const url = remoteUrlOf(cmd);
  if (url !== undefined) {
    await withRemote(cmd, url, passwordInputOf(cmd), (client) => work(remoteContent(client)));
    return;
  }
  assertNoAsNode(cmd);
  await localContentRun(configFromCommand(cmd), work);
}
