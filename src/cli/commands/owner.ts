import type { Command } from 'commander';
import { addConfigFlags, configFromCommand, STORAGE_FLAGS } from '../options.js';
import { passwordInputOf } from '../remote-target.js';

/** `mycel owner …`: the node owner's password. */
export function registerOwnerCommand(program: Command): void {
  const owner = program.command('owner').description("manage the node owner's access");
  const setPassword = owner
    .command('set-password')
    .description('change the owner password and end every owner session (asks for the current one unless --recover)')
    .option('--recover', 'set a new password without the current one (you can open the node\'s database: see docs/owner.md)');
  addConfigFlags(setPassword, STORAGE_FLAGS);
  setPassword.addHelpText(
    'after',
    '\nOn a terminal the passwords are asked for without echo. Otherwise (or with --password-stdin) they are read from standard input,\none per line: the current password (unless --recover, or none is set), then the new one.\nThe new password needs at least 8 characters. See docs/owner.md.',
  );
  setPassword.action(async (options: { recover?: boolean }, cmd: Command) => {
    const config = configFromCommand(cmd);
    const { runSetOwnerPassword } = await import('../owner-command.js');
    // The global --password-stdin reads them from standard input even on a terminal.
    await runSetOwnerPassword(config, { recover: options.recover === true, input: passwordInputOf(cmd) });
  });
}
