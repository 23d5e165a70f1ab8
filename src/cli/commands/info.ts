import type { Command } from 'commander';
import { addConfigFlags, configFromCommand, STORAGE_FLAGS } from '../options.js';

/** `mycel info`: the node's identity and database state. */
export function registerInfoCommand(program: Command): void {
  const command = program
    .command('info')
    .description('show the node id, name, data dir, schema version and change count')
    .option('--json', 'print JSON');
  addConfigFlags(command, STORAGE_FLAGS);
  command.action(async (options: { json?: boolean }, cmd: Command) => {
    const config = configFromCommand(cmd);
    const { runInfo } = await import('../node-tasks.js');
    await runInfo(config, { json: options.json === true });
  });
}
