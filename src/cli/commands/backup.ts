import type { Command } from 'commander';
import { addConfigFlags, configFromCommand, STORAGE_FLAGS } from '../options.js';

/** `mycel backup FILE` and `mycel restore FILE`: the SQLite database of a node (docs/operations.md). */
export function registerBackupCommands(program: Command): void {
  const backup = program
    .command('backup')
    .description("write an online backup of the node's SQLite database to FILE, while the node runs")
    .argument('<file>', 'the backup file to write')
    .option('--force', 'replace FILE if it exists')
    .option('--json', 'print the result as JSON');
  addConfigFlags(backup, STORAGE_FLAGS).addHelpText(
    'after',
    '\nUses SQLite\'s online backup (a consistent snapshot; never copy a live mycel.db by hand), then checks the copy.\n' +
      'Back up the blob store (blobs.dir) after it. PostgreSQL: use pg_dump (docs/operations.md).',
  );
  backup.action(async (file: string, options: { force?: boolean; json?: boolean }, cmd: Command) => {
    const { runBackup } = await import('../backup-tasks.js');
    await runBackup(configFromCommand(cmd), file, options);
  });

  const restore = program
    .command('restore')
    .description("replace the node's SQLite database by the backup FILE; the node must be stopped")
    .argument('<file>', 'a file written by `mycel backup`')
    .option('--force', 'replace the database the data directory holds')
    .option('--json', 'print the result as JSON');
  addConfigFlags(restore, STORAGE_FLAGS).addHelpText(
    'after',
    '\nChecks FILE (integrity, a Mycel node, a schema this version knows), refuses while `mycel serve` runs on the\n' +
      'data directory (DATA_DIR_LOCKED), then replaces mycel.db atomically. PostgreSQL: use pg_restore (docs/operations.md).',
  );
  restore.action(async (file: string, options: { force?: boolean; json?: boolean }, cmd: Command) => {
    const { runRestore } = await import('../backup-tasks.js');
    runRestore(configFromCommand(cmd), file, options);
  });
}
