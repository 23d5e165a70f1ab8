#!/usr/bin/env node
import { Command } from 'commander';
import { registerBlobsCommand } from './commands/blobs.js';
import { registerCatCommand } from './commands/cat.js';
import { registerChannelsCommand } from './commands/channels.js';
import { registerComputeCommand } from './commands/compute.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerConfigCommand } from './commands/config.js';
import { registerDigestCommand } from './commands/digest.js';
import { registerInfoCommand } from './commands/info.js';
import { registerInitCommand } from './commands/init.js';
import { registerLoadCommand } from './commands/load.js';
import { registerNodesCommand } from './commands/nodes.js';
import { registerOwnerCommand } from './commands/owner.js';
import { registerPostsCommand } from './commands/posts.js';
import { registerServeCommand } from './commands/serve.js';
import { registerStoreCommand } from './commands/store.js';
import { registerVerifyCommand } from './commands/verify.js';
import { exitWithError, installCliErrorHandlers } from './exit.js';
import { refuseRemoteForLocalCommands } from './remote-target.js';
import { packageVersion } from '../lib/package-version.js';

installCliErrorHandlers();

const program = new Command('mycel')
  .description('Mycel: a self-hostable node server (shared database, realtime, content-addressed store, federated compute)')
  .version(packageVersion(), '-V, --version', 'print the version')
  .option('--config <file>', 'YAML configuration file (default: $MYCEL_CONFIG); ${VAR} and ${VAR:-default} are expanded')
  .option('--node <url>', 'run the command on the node at this URL over its REST API (default: $MYCEL_NODE_URL); info, digest, nodes, channels, posts, store, cat, load, compute')
  .option('--as-node <id>', 'over REST (--node, and nodes status|connect|disconnect): log in as this client node, registered there with owner rights (password from $MYCEL_NODE_PASSWORD, stdin or a prompt), instead of as the owner')
  .option('--password-stdin', 'commands that need passwords read them from standard input, one per line, even on a terminal')
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
registerChannelsCommand(program);
registerPostsCommand(program);
registerStoreCommand(program);
registerCatCommand(program);
registerLoadCommand(program);
registerBlobsCommand(program);
registerComputeCommand(program);
registerBackupCommands(program);
refuseRemoteForLocalCommands(program);

program.parseAsync(process.argv).catch(exitWithError);
