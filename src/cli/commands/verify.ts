import type { Command } from 'commander';
import { addConfigFlags, configFromCommand, STORAGE_FLAGS } from '../options.js';

/** `mycel verify`: checks the change log's hash chain from the first change to the last. */
export function registerVerifyCommand(program: Command): void {
  const command = program
    .command('verify')
    .description("check the change log's hash chain; print the first bad serial and exit 1 if it is broken")
    .option('--json', 'print the verdict as JSON');
  addConfigFlags(command, STORAGE_FLAGS);
  command.addHelpText('after', '\nExit codes: 0 the chain verifies, 1 it is broken (or the check failed), 2 the configuration is not valid.');
  command.action(async (options: { json?: boolean }, cmd: Command) => {
    const config = configFromCommand(cmd);
    const { runVerify } = await import('../node-tasks.js');
    process.exitCode = await runVerify(config, { json: options.json === true });
  });
}
