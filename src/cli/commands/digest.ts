import type { Command } from 'commander';
import { addConfigFlags, configFromCommand, STORAGE_FLAGS } from '../options.js';
import { assertNoAsNode, passwordInputOf, REMOTE_HELP, remoteUrlOf, withRemote } from '../remote-target.js';

/** `mycel digest`: prints the canonical digest of the node's replicated content. */
export function registerDigestCommand(program: Command): void {
  const command = program
    .command('digest')
    .description('print a digest of the replicated content (channels, posts, links) to compare two nodes in one line')
    .option('--json', 'print the digest, per-kind counts and per-kind digests as JSON');
  addConfigFlags(command, STORAGE_FLAGS).addHelpText('after', REMOTE_HELP);
  command.addHelpText(
    'after',
    '\nOutput: `sha256:<hex> channels=N posts=N links=N` (and the compute kinds on a node that holds compute records). Two nodes holding the same content print the same line, whatever database they use.',
  );
  command.action(async (options: { json?: boolean }, cmd: Command) => {
    const url = remoteUrlOf(cmd);
    if (url !== undefined) {
      const { runRemoteDigest } = await import('../remote-node-tasks.js');
      await withRemote(cmd, url, passwordInputOf(cmd), (client) => runRemoteDigest(client, { json: options.json === true }));
      return;
    }
    assertNoAsNode(cmd);
    const config = configFromCommand(cmd);
    const { runDigest } = await import('../node-tasks.js');
    await runDigest(config, { json: options.json === true });
  });
}
