#!/usr/bin/env node
import { Command } from 'commander';
import { registerConfigCommand } from './commands/config.js';
import { registerDigestCommand } from './commands/digest.js';
import { registerInfoCommand } from './commands/info.js';
import { registerInitCommand } from './commands/init.js';
import { registerNodesCommand } from './commands/nodes.js';
import { registerOwnerCommand } from './commands/owner.js';
import { registerServeCommand } from './commands/serve.js';
import { registerVerifyCommand } from './commands/verify.js';
import { exitWithError, installCliErrorHandlers } from './exit.js';
import { packageVersion } from '../lib/package-version.js';

installCliErrorHandlers();

const program = new Command('mycel')
  .description('Mycel: a self-hostable node server (shared database, realtime, content-addressed store, federated compute)')
  .version(packageVersion(), '-V, --version', 'print the version')
  .option('--config <file>', 'YAML configuration file (default: $MYCEL_CONFIG); ${VAR} and ${VAR:-default} are expanded')
  // Subcommands created after this inherit it, so `mycel serve --help` lists --config too.
  .configureHelp({ showGlobalOptions: true })
  .showHelpAfterError()
  .addHelpText(
    'after',
    '\nSettings: schema defaults < YAML file (--config or MYCEL_CONFIG) < MYCEL_* environment < flags.\nEvery key, its variable and default: docs/config.md. `mycel config` prints the effective configuration.',
  );

registerServeCommand(program);
registerInitCommand(program);
registerInfoCommand(program);
registerConfigCommand(program);
registerVerifyCommand(program);
registerDigestCommand(program);
registerOwnerCommand(program);
registerNodesCommand(program);

program.parseAsync(process.argv).catch(exitWithError);
