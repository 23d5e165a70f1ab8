import type { Command } from 'commander';
import { BLOB_CLI_HELP } from '../blob-help.js';

/** `mycel store FILE…`: uploads files to the node's blob store (docs/blobs.md, "CLI"). */
export function registerStoreCommand(program: Command): void {
  program
    .command('store <file...>')
    .description('upload files to the node\'s blob store; prints "sha256://… sha1://… FILE" per file')
    .option('--channel <channel>', 'also write a post referring to each blob into this channel (by name or id)')
    .option('--media-type <type>', 'the media type stored with the blobs (default application/octet-stream)')
    .option('--json', 'print the answers as JSON')
    .addHelpText('after', BLOB_CLI_HELP)
    .action(async (files: string[], flags: { channel?: string; mediaType?: string; json?: boolean }, cmd: Command) => {
      const [{ withBlobNode }, { runStore }] = await Promise.all([import('../blob-target.js'), import('../blob-command.js')]);
      await withBlobNode(cmd, (node, content) =>
        runStore(node, content, files, { ...(flags.channel ? { channel: flags.channel } : {}), ...(flags.mediaType ? { mediaType: flags.mediaType } : {}), json: flags.json === true }),
      );
    });
}
