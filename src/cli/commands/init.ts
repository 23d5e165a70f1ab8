import type { Command } from 'commander';
import { addConfigFlags, configFromCommand } from '../options.js';

/** `mycel init`: creates the node (database, identity, owner) and exits. */
export function registerInitCommand(program: Command): void {
  const command = program
    .command('init')
    .description('create the node in its data dir or database (id, name, owner password) and exit; harmless on an existing node');
  addConfigFlags(command, ['node.dataDir', 'database.url', 'node.name', 'log.level']);
  command.action(async (_options: unknown, cmd: Command) => {
    const config = configFromCommand(cmd);
    const { runInit } = await import('../node-tasks.js');
    await runInit(config);
  });
}
