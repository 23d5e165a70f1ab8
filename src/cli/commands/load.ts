import type { Command } from 'commander';
import { BLOB_CLI_HELP } from '../blob-help.js';

/** `mycel load URI`: bring a blob into the node from another node (docs/blobs.md, "CLI"). */
export function registerLoadCommand(program: Command): void {
  program
    .command('load <uri>')
    .description('bring a blob into the node: from the node at --from (hash checked while it streams), else from the servers the node pulls from')
    .option('--from <url>', 'the node to take the blob from, over its REST API')
    .option('--from-as-node <id>', 'log in at --from as this client node registered there (password from $MYCEL_FROM_NODE_PASSWORD, stdin or a prompt) instead of as its owner ($MYCEL_FROM_OWNER_PASSWORD, stdin or a prompt)')
    .option('--upload-to-channel <channel>', 'also write a post referring to the blob into this channel of the node (by name or id)')
    .option('--json', 'print the blob as JSON')
    .addHelpText(
      'after',
      `${BLOB_CLI_HELP}
With --from the bytes stream from that node through this command into the target node, hashed on
the way: bytes that are not the URI's are cut off before they end, and the target stores nothing
(BLOB_HASH_MISMATCH). Without --from the target node fetches the blob itself from the servers it
pulls from (its node network) and checks the hash as it stores. Piped passwords: the target's
credential first, then the one for --from.`,
    )
    .action(async (uri: string, flags: { from?: string; fromAsNode?: string; uploadToChannel?: string; json?: boolean }, cmd: Command) => {
      const [{ withBlobNode, withSourceNode }, { runLoad }] = await Promise.all([import('../blob-target.js'), import('../blob-command.js')]);
      const options = { ...(flags.uploadToChannel ? { channel: flags.uploadToChannel } : {}), json: flags.json === true };
      await withBlobNode(cmd, async (node, content, passwords) => {
        if (flags.from === undefined) return runLoad(node, null, content, uri, options);
        await withSourceNode(flags.from, flags.fromAsNode, passwords, (from) => runLoad(node, from, content, uri, options));
      });
    });
}
