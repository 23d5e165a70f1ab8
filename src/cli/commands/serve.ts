import type { Command } from 'commander';
import type { Config } from '../../config/index.js';
import { addConfigFlags, configFromCommand } from '../options.js';

/** `mycel serve`: runs the node's HTTP server until SIGINT/SIGTERM (what `npm start` runs). */
export function registerServeCommand(program: Command): void {
  const command = program
    .command('serve')
    .description('start the node: create it on first start, open its database, serve HTTP until SIGINT/SIGTERM');
  addConfigFlags(command, ['server.port', 'server.host', 'node.dataDir', 'blobs.dir', 'blobs.authGroup', 'database.url', 'node.name', 'log.level']);
  command.addHelpText('after', '\nLogs are JSON lines on stdout. Other settings: --config FILE, MYCEL_* variables (docs/config.md).');
  command.action(async (_options: unknown, cmd: Command) => {
    const config = configFromCommand(cmd);
    await runServe(config);
  });
}

/** `mycel serve`: runs until SIGINT/SIGTERM, then shuts down gracefully. */
async function runServe(config: Config): Promise<void> {
  // Loaded on demand so `mycel config` and `--help` never load the server.
  const [{ createLogger }, { startNode }] = await Promise.all([import('../../log.js'), import('../../node/assemble.js')]);
  const log = createLogger({ level: config.log.level });
  const node = await startNode(config, log);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      // The node's close spends at most the grace on clients and in-flight requests; this is
      // the backstop for a close that hangs past it (a stuck database or Bus).
      const force = setTimeout(() => {
        log.error({ graceSeconds: config.server.shutdownGraceSeconds }, 'shutdown grace period over; exiting');
        process.exit(1);
      }, config.server.shutdownGraceSeconds * 1000 + 5000);
      force.unref();
      node.close().then(resolve, (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  log.info('stopped');
}
