import type { Command } from 'commander';
import { addConfigFlags, configFromCommand } from '../options.js';

/** `mycel serve`: runs the node's HTTP server until SIGINT/SIGTERM (what `npm start` runs). */
export function registerServeCommand(program: Command): void {
  const command = program
    .command('serve')
    .description('start the node: create it on first start, open its database, serve HTTP until SIGINT/SIGTERM');
  addConfigFlags(command, ['server.port', 'server.host', 'node.dataDir', 'database.url', 'node.name', 'log.level']);
  command.addHelpText('after', '\nLogs are JSON lines on stdout. Other settings: --config FILE, MYCEL_* variables (docs/config.md).');
  command.action(async (_options: unknown, cmd: Command) => {
    const config = configFromCommand(cmd);
    // Loaded on demand so `mycel config` and `--help` never load the server.
    const { runServe } = await import('../../main.js');
    await runServe(config);
  });
}
