import type { Command } from 'commander';
import { addConfigFlags, configFromCommand, STORAGE_FLAGS } from '../options.js';
import { assertNoAsNode, passwordInputOf, REMOTE_HELP, remoteUrlOf, withRemote } from '../remote-target.js';

/** `mycel info`: the node's identity and database state. */
export function registerInfoCommand(program: Command): void {
  const command = program
    .command('info')
    .description('show the node id, name, data dir, schema version and change count (with --node: id, name, version, schema version and whom you are logged in as)')
    .option('--json', 'print JSON');
  addConfigFlags(command, STORAGE_FLAGS).addHelpText('after', REMOTE_HELP);
  command.action(async (options: { json?: boolean }, cmd: Command) => {
    const url = remoteUrlOf(cmd);
    if (url !== undefined) {
      const { runRemoteInfo } = await import('../remote-node-tasks.js');
      await withRemote(cmd, url, passwordInputOf(cmd), (client) => runRemoteInfo(client, { json: options.json === true }));
      return;
    }
    assertNoAsNode(cmd);
    const config = configFromCommand(cmd);
    const { runInfo } = await import('../node-tasks.js');
    await runInfo(config, { json: options.json === true });
  });
}
