import type { Command } from 'commander';
import { addConfigFlags, configFromCommand, positiveInt } from '../options.js';

const BLOB_FLAGS = ['node.dataDir', 'blobs.dir', 'database.url', 'log.level'] as const;

/** `mycel blobs …`: maintenance of the local node's blob store (docs/blobs.md). */
export function registerBlobsCommand(program: Command): void {
  const blobs = program.command('blobs').description("inspect, verify and garbage-collect the local node's blob store (docs/blobs.md)");

  const ls = blobs
    .command('ls')
    .description('list blob records, oldest first: URI, size, whether the bytes are here, time, uploader, media type')
    .option('--limit <n>', 'at most this many', positiveInt)
    .option('--json', 'print one JSON object per line');
  addConfigFlags(ls, BLOB_FLAGS);
  ls.action(async (flags: { limit?: number; json?: boolean }, cmd: Command) => {
    const { runBlobsList } = await import('../node-tasks.js');
    process.exitCode = await runBlobsList(configFromCommand(cmd), { json: flags.json === true, ...(flags.limit ? { limit: flags.limit } : {}) });
  });

  const info = blobs
    .command('info <uri>')
    .description('show a blob record (sha256://…, sha1://…, or bare hex): references, pin, whether and where the bytes are stored')
    .option('--json', 'print JSON');
  addConfigFlags(info, BLOB_FLAGS);
  info.action(async (uri: string, flags: { json?: boolean }, cmd: Command) => {
    const { runBlobsInfo } = await import('../node-tasks.js');
    process.exitCode = await runBlobsInfo(configFromCommand(cmd), uri, { json: flags.json === true });
  });

  const verify = blobs
    .command('verify [uri]')
    .description('re-hash one blob or every stored blob; damaged files are moved to corrupt/')
    .option('--json', 'print JSON');
  addConfigFlags(verify, BLOB_FLAGS);
  verify.addHelpText('after', '\nExit codes: 0 every blob checked is intact, 1 one is corrupt (or the named one is missing).');
  verify.action(async (uri: string | undefined, flags: { json?: boolean }, cmd: Command) => {
    const { runBlobsVerify } = await import('../node-tasks.js');
    process.exitCode = await runBlobsVerify(configFromCommand(cmd), uri, { json: flags.json === true });
  });

  const gc = blobs
    .command('gc')
    .description('remove the bytes of blobs older than blobs.gcGraceSeconds that no post refers to and nobody pinned (records stay)')
    .option('--dry-run', 'only list what would be removed')
    .option('--json', 'print JSON');
  addConfigFlags(gc, BLOB_FLAGS);
  gc.action(async (flags: { dryRun?: boolean; json?: boolean }, cmd: Command) => {
    const { runBlobsGc } = await import('../node-tasks.js');
    process.exitCode = await runBlobsGc(configFromCommand(cmd), { json: flags.json === true, dryRun: flags.dryRun === true });
  });
}
