import { Command, Option } from 'commander';
import { MycelError } from '../../errors.js';
import { NODE_DATA_ROLES, type NodeDataRole } from '../../model/content.js';
import { addConfigFlags, configFromCommand, STORAGE_FLAGS } from '../options.js';

interface PermissionFlags {
  role?: NodeDataRole;
  owner?: boolean;
  readWrite?: boolean;
  readOnly?: boolean;
  channels?: string;
}

/** `--channels a,b:*` as a list; `--channels ''` (or `*`) is every channel. */
function channelList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return items.length === 1 && items[0] === '*' ? [] : items;
}

function writeAccessOf(flags: PermissionFlags): 'read-only' | 'read-write' | undefined {
  if (flags.readWrite && flags.readOnly) {
    throw new MycelError('VALIDATION_FAILED', { field: 'writeAccess' }, 'Give --read-write or --read-only, not both');
  }
  return flags.readWrite ? 'read-write' : flags.readOnly ? 'read-only' : undefined;
}

const PASSWORD_HELP =
  '\nThe password is never a command-line argument: on a terminal it is asked for without echo (twice);\notherwise, or with --password-stdin, it is the first line of standard input. At least 8 characters.';

function roleOption(): Option {
  return new Option('--role <role>', 'data role: child (pulls from this node), parent (is pulled by it) or both').choices(NODE_DATA_ROLES);
}

function channelsOption(): Option {
  return new Option('--channels <list>', 'comma-separated channel names and namespace:* patterns it may pull and write ("*": all)');
}

/** `mycel nodes …`: the client nodes allowed to connect to this node (docs/nodes.md). */
export function registerNodesCommand(program: Command): void {
  const nodes = program
    .command('nodes')
    .description('manage the client nodes allowed to connect to this node (in its database; works beside a running node)');

  const add = nodes
    .command('add <nodeId>')
    .description('register a client node (a UUID) with its password; default: role child, read-only, no owner rights, all channels')
    .option('--password-stdin', 'read the password from standard input, even on a terminal')
    .addOption(roleOption())
    .option('--owner', 'give it the owner\'s rights on this node')
    .option('--read-write', 'accept writes it forwards (default: read-only)')
    .addOption(channelsOption());
  addConfigFlags(add, STORAGE_FLAGS);
  add.addHelpText('after', PASSWORD_HELP);
  add.action(async (nodeId: string, flags: PermissionFlags & { passwordStdin?: boolean }, cmd: Command) => {
    const config = configFromCommand(cmd);
    const [{ runNodesAdd }, input] = await Promise.all([import('../nodes-command.js'), import('../password-input.js')]);
    await runNodesAdd(
      config,
      { nodeId, role: flags.role, asOwner: flags.owner === true, writeAccess: flags.readWrite ? 'read-write' : undefined, channels: channelList(flags.channels) },
      flags.passwordStdin ? input.pipedPasswordInput() : input.stdinPasswordInput(),
    );
  });

  const list = nodes.command('list').description('list the registered client nodes (never their passwords)').option('--json', 'print JSON');
  addConfigFlags(list, STORAGE_FLAGS);
  list.action(async (flags: { json?: boolean }, cmd: Command) => {
    const config = configFromCommand(cmd);
    const { runNodesList } = await import('../nodes-command.js');
    await runNodesList(config, flags.json === true);
  });

  const set = nodes
    .command('set <nodeId>')
    .description('change a client node; what is not given stays. A new password ends its sessions')
    .addOption(roleOption())
    .option('--owner', 'give it the owner\'s rights')
    .option('--no-owner', 'take the owner\'s rights away')
    .option('--read-write', 'accept writes it forwards')
    .option('--read-only', 'refuse writes it forwards')
    .addOption(channelsOption())
    .option('--new-password', 'set a new password (asked for, or read from standard input)')
    .option('--password-stdin', 'set a new password read from standard input, even on a terminal');
  addConfigFlags(set, STORAGE_FLAGS);
  set.addHelpText('after', PASSWORD_HELP);
  set.action(async (nodeId: string, flags: PermissionFlags & { newPassword?: boolean; passwordStdin?: boolean }, cmd: Command) => {
    const config = configFromCommand(cmd);
    const [{ runNodesSet }, input] = await Promise.all([import('../nodes-command.js'), import('../password-input.js')]);
    const passwords = flags.passwordStdin ? input.pipedPasswordInput() : flags.newPassword ? input.stdinPasswordInput() : null;
    await runNodesSet(config, nodeId, { role: flags.role, asOwner: flags.owner, writeAccess: writeAccessOf(flags), channels: channelList(flags.channels) }, passwords);
  });

  const remove = nodes.command('remove <nodeId>').description('remove a client node and end its sessions');
  addConfigFlags(remove, STORAGE_FLAGS);
  remove.action(async (nodeId: string, _flags: unknown, cmd: Command) => {
    const config = configFromCommand(cmd);
    const { runNodesRemove } = await import('../nodes-command.js');
    await runNodesRemove(config, nodeId);
  });
}
