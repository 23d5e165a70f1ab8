import type { Command } from 'commander';
import { BLOB_CLI_HELP } from '../blob-help.js';

/** `mycel cat URI`: a blob's bytes to standard output (docs/blobs.md, "CLI"). */
export function registerCatCommand(program: Command): void {
  program
    .command('cat <uri>')
    .description('write a blob\'s bytes to standard output (sha256://…, sha1://…, or a bare digest), checking its hash as they pass')
    .addHelpText('after', `${BLOB_CLI_HELP}\nA reader that stops early (mycel cat URI | head -c 10) ends the command quietly with exit code 0.`)
    .action(async (uri: string, _flags: unknown, cmd: Command) => {
      const [{ withBlobNode }, { runCat }] = await Promise.all([import('../blob-target.js'), import('../blob-command.js')]);
      await withBlobNode(cmd, (node, _content, _passwords, mount) => runCat(node, uri, mount));
    });
}
