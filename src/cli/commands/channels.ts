import type { Command } from 'commander';
import { withContent } from '../content-target.js';
import { REMOTE_HELP } from '../remote-target.js';
import { addConfigFlags, positiveInt, STORAGE_FLAGS } from '../options.js';

/** `mycel channels …`: list, create and show channels, on this node or (--node) another. */
export function registerChannelsCommand(program: Command): void {
  const channels = program.command('channels').description('list, create and show channels (the local node as its owner, or --node URL)');

  const list = channels
    .command('list')
    .description('list the channels in creation order')
    .option('--limit <n>', 'at most this many (default 1000)', positiveInt)
    .option('--json', 'print JSON');
  addConfigFlags(list, STORAGE_FLAGS).addHelpText('after', REMOTE_HELP);
  list.action(async (flags: { limit?: number; json?: boolean }, cmd: Command) => {
    const { runChannelsList } = await import('../content-command.js');
    await withContent(cmd, (content) => runChannelsList(content, { limit: flags.limit ?? 1000, json: flags.json === true }));
  });

  const create = channels
    .command('create <name>')
    .description('create a channel (`namespace:name`, or a name without `:`)')
    .option('--description <text>', 'what the channel is for')
    .option('--json', 'print the channel as JSON');
  addConfigFlags(create, STORAGE_FLAGS).addHelpText('after', REMOTE_HELP);
  create.action(async (name: string, flags: { description?: string; json?: boolean }, cmd: Command) => {
    const { runChannelsCreate } = await import('../content-command.js');
    await withContent(cmd, (content) =>
      runChannelsCreate(content, { name, ...(flags.description !== undefined ? { description: flags.description } : {}) }, flags.json === true),
    );
  });

  const show = channels.command('show <channel>').description('show a channel, by name or id').option('--json', 'print JSON');
  addConfigFlags(show, STORAGE_FLAGS).addHelpText('after', REMOTE_HELP);
  show.action(async (channel: string, flags: { json?: boolean }, cmd: Command) => {
    const { runChannelsShow } = await import('../content-command.js');
    await withContent(cmd, (content) => runChannelsShow(content, channel, flags.json === true));
  });
}
