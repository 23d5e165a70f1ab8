import { InvalidArgumentError, type Command } from 'commander';
import { withContent } from '../content-target.js';
import { REMOTE_HELP } from '../remote-target.js';
import { addConfigFlags, positiveInt, STORAGE_FLAGS } from '../options.js';

/** `--meta '{"k":1}'`: a JSON object. */
function metaObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('must be a JSON object');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new InvalidArgumentError('must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** `mycel posts …`: list and write posts of a channel, on this node or (--node) another. */
export function registerPostsCommand(program: Command): void {
  const posts = program.command('posts').description('list and write posts (the local node as its owner, or --node URL)');

  const list = posts
    .command('list <channel>')
    .description('list the posts of a channel (by name or id) in seq order, tombstones included')
    .option('--limit <n>', 'at most this many (default 50)', positiveInt)
    .option('--newest', 'newest first')
    .option('--json', 'print JSON');
  addConfigFlags(list, STORAGE_FLAGS).addHelpText('after', REMOTE_HELP);
  list.action(async (channel: string, flags: { limit?: number; newest?: boolean; json?: boolean }, cmd: Command) => {
    const { runPostsList } = await import('../content-command.js');
    await withContent(cmd, (content) => runPostsList(content, channel, { limit: flags.limit ?? 50, newestFirst: flags.newest === true, json: flags.json === true }));
  });

  const create = posts
    .command('create <channel> <body>')
    .description('write a post into a channel (by name or id)')
    .option('--meta <json>', 'application data: a JSON object', metaObject)
    .option('--json', 'print the post as JSON');
  addConfigFlags(create, STORAGE_FLAGS).addHelpText('after', REMOTE_HELP);
  create.action(async (channel: string, body: string, flags: { meta?: Record<string, unknown>; json?: boolean }, cmd: Command) => {
    const { runPostsCreate } = await import('../content-command.js');
    await withContent(cmd, (content) => runPostsCreate(content, channel, { body, ...(flags.meta ? { meta: flags.meta } : {}) }, flags.json === true));
  });
}
