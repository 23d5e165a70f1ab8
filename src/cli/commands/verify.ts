import type { Command } from 'commander';
import { addConfigFlags, configFromCommand, STORAGE_FLAGS } from '../options.js';

/** `mycel verify`: checks the change log's hash chain, then that the tables are what the log says. */
export function registerVerifyCommand(program: Command): void {
  const command = program
    .command('verify')
    .description("check the change log's hash chain, then rebuild the content from the log and compare it with the tables; name the first bad serial or differing entity and exit 1")
    .option('--json', 'print the verdict as JSON');
  addConfigFlags(command, STORAGE_FLAGS);
  command.addHelpText('after', '\nExit codes: 0 the chain verifies and the tables match it, 1 the chain is broken or a table differs (or the check failed), 2 the configuration is not valid.');
  command.action(async (options: { json?: boolean }, cmd: Command) => {
    const config = configFromCommand(cmd);
    const { runVerify } = await import('../node-tasks.js');
    process.exitCode = await runVerify(config, { json: options.json === true });
  });
}
