import { Command, Option } from 'commander';
import { MycelError } from '../../errors.js';
import { NODE_DATA_ROLES, type NodeDataRole } from '../../model/content.js';
import type { NodeClient } from '../node-client.js';
import type { RegistryRun } from '../nodes-command.js';
import { addConfigFlags, configFromCommand, STORAGE_FLAGS } from '../options.js';
import type { PasswordInput } from '../password-input.js';
import { assertNoAsNode, localNodeUrl, passwordInputOf, REMOTE_HELP, remoteUrlOf, withNodeClient, withRemote } from '../remote-target.js';

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
  '\nThe password is never a command-line argument: on a terminal it is asked for without echo (twice);\notherwise, or with --password-stdin, it is the first line of standard input (with --node and no\nMYCEL_OWNER_PASSWORD / MYCEL_NODE_PASSWORD: the second, after the credential). At least 8 characters.';

const RUNNING_HELP = `
This needs the node running: the links live in its process. Without --node it talks to the local node's
REST API at server.host and server.port (--host, --port, --config; a wildcard host is reached over
loopback) as its owner, with owner.password (MYCEL_OWNER_PASSWORD) or the password from standard input
(--password-stdin) or a prompt; with --as-node ID as a client node registered there with owner rights.
${REMOTE_HELP}`;

/** What locates the running local node's REST API. */
const RUNNING_FLAGS = ['server.host', 'server.port'] as const;

/** The registry the command works on: the local database, or the node of --node over REST (logged in first). */
async function registryOf(cmd: Command, passwords: PasswordInput): Promise<RegistryRun> {
  const { localRegistry, remoteRegistry } = await import('../nodes-command.js');
  const url = remoteUrlOf(cmd);
  if (url !== undefined) return (work) => withRemote(cmd, url, passwords, (client) => work(remoteRegistry(client)));
  assertNoAsNode(cmd);
  return localRegistry(configFromCommand(cmd));
}

/** Runs `work` against the running node: the one of --node, else the local node at its configured address. */
async function withRunningNode(cmd: Command, passwords: PasswordInput, work: (client: NodeClient) => Promise<void>): Promise<void> {
  const url = remoteUrlOf(cmd);
  if (url !== undefined) return withRemote(cmd, url, passwords, work);
  const config = configFromCommand(cmd);
  return withNodeClient(cmd, localNodeUrl(config), passwords, config.owner.password, work);
}

function roleOption(): Option {
  return new Option('--role <role>', 'data role: child (pulls from this node), parent (is pulled by it) or both').choices(NODE_DATA_ROLES);
}

function channelsOption(): Option {
  return new Option('--channels <list>', 'comma-separated channel names and namespace:* patterns it may pull and write ("*": all)');
}

/** `mycel nodes …`: the client nodes allowed to connect to this node (docs/api.md), and the node network's links (docs/network.md). */
export function registerNodesCommand(program: Command): void {
  const nodes = program
    .command('nodes')
    .description('manage the client nodes allowed to connect to this node (in its database; works beside a running node), and the servers it connects to');

  const add = nodes
    .command('add <nodeId>')
    .description('register a client node (a UUID) with its password; default: role child, read-only, no owner rights, all channels')
    .option('--password-stdin', 'read the password from standard input, even on a terminal')
    .addOption(roleOption())
    .option('--owner', 'give it the owner\'s rights on this node')
    .option('--read-write', 'accept writes it forwards (default: read-only)')
    .addOption(channelsOption());
  addConfigFlags(add, STORAGE_FLAGS);
  add.addHelpText('after', PASSWORD_HELP + REMOTE_HELP);
  add.action(async (nodeId: string, flags: PermissionFlags, cmd: Command) => {
    const passwords = passwordInputOf(cmd);
    const { runNodesAdd } = await import('../nodes-command.js');
    await runNodesAdd(
      await registryOf(cmd, passwords),
      { nodeId, role: flags.role, asOwner: flags.owner === true, writeAccess: flags.readWrite ? 'read-write' : undefined, channels: channelList(flags.channels) },
      passwords,
    );
  });

  const list = nodes.command('list').description('list the registered client nodes (never their passwords)').option('--json', 'print JSON');
  addConfigFlags(list, STORAGE_FLAGS);
  list.addHelpText('after', REMOTE_HELP);
  list.action(async (flags: { json?: boolean }, cmd: Command) => {
    const { runNodesList } = await import('../nodes-command.js');
    await runNodesList(await registryOf(cmd, passwordInputOf(cmd)), flags.json === true);
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
  set.addHelpText('after', PASSWORD_HELP + REMOTE_HELP);
  set.action(async (nodeId: string, flags: PermissionFlags & { newPassword?: boolean; passwordStdin?: boolean }, cmd: Command) => {
    const passwords = passwordInputOf(cmd);
    const { runNodesSet } = await import('../nodes-command.js');
    // The program's --password-stdin takes the flag wherever it is written: read it with the globals.
    const newPassword = cmd.optsWithGlobals<{ passwordStdin?: boolean }>().passwordStdin || flags.newPassword ? passwords : null;
    const changes = { role: flags.role, asOwner: flags.owner, writeAccess: writeAccessOf(flags), channels: channelList(flags.channels) };
    await runNodesSet(await registryOf(cmd, passwords), nodeId, changes, newPassword);
  });

  const remove = nodes.command('remove <nodeId>').description('remove a client node and end its sessions');
  addConfigFlags(remove, STORAGE_FLAGS);
  remove.addHelpText('after', REMOTE_HELP);
  remove.action(async (nodeId: string, _flags: unknown, cmd: Command) => {
    const { runNodesRemove } = await import('../nodes-command.js');
    await runNodesRemove(await registryOf(cmd, passwordInputOf(cmd)), nodeId);
  });

  const status = nodes
    .command('status')
    .description('the running node\'s links: each server it connects to and each client node connected to it, with roles, transport, cursor, lag, last error and session expiry')
    .option('--password-stdin', 'read the password from standard input, even on a terminal')
    .option('--json', 'print JSON');
  addConfigFlags(status, RUNNING_FLAGS);
  status.addHelpText('after', RUNNING_HELP);
  status.action(async (flags: { json?: boolean }, cmd: Command) => {
    const { runNetworkStatus } = await import('../network-command.js');
    await withRunningNode(cmd, passwordInputOf(cmd), (client) => runNetworkStatus(client, flags.json === true));
  });

  const connect = nodes
    .command('connect <url>')
    .description('connect the running node to a server at run time (kept in its database): it must be registered there with this node\'s id')
    .addOption(new Option('--role <role>', 'this node\'s data role towards the server: child (pulls from it), parent (is pulled by it) or both').choices(NODE_DATA_ROLES).default('child'))
    .addOption(new Option('--transport <transport>', 'websocket, sse (SSE + HTTP) or auto (WebSocket, else SSE)').choices(['auto', 'websocket', 'sse']))
    .option('--password-env <variable>', 'take this node\'s password at the server from this environment variable')
    .option('--password-stdin', 'read passwords from standard input, even on a terminal')
    .option('--json', 'print the server entry as JSON');
  addConfigFlags(connect, RUNNING_FLAGS);
  connect.addHelpText(
    'after',
    `\nThe password this node is registered with at the server comes from --password-env VARIABLE, else from standard\ninput (after the credential of the node being told to connect, if that is read too), else a prompt.${RUNNING_HELP}`,
  );
  connect.action(async (url: string, flags: { role: NodeDataRole; transport?: 'auto' | 'websocket' | 'sse'; passwordEnv?: string; json?: boolean }, cmd: Command) => {
    const { runNetworkConnect } = await import('../network-command.js');
    const passwords = passwordInputOf(cmd);
    await withRunningNode(cmd, passwords, (client) =>
      runNetworkConnect(
        client,
        { url, role: flags.role, ...(flags.transport ? { transport: flags.transport } : {}), ...(flags.passwordEnv ? { passwordEnv: flags.passwordEnv } : {}), json: flags.json === true },
        passwords,
      ),
    );
  });

  const disconnect = nodes
    .command('disconnect <id>')
    .description('disconnect the running node from a server added at run time and forget it (the id from `mycel nodes status`)')
    .option('--password-stdin', 'read the password from standard input, even on a terminal');
  addConfigFlags(disconnect, RUNNING_FLAGS);
  disconnect.addHelpText('after', RUNNING_HELP);
  disconnect.action(async (id: string, _flags: unknown, cmd: Command) => {
    const { runNetworkDisconnect } = await import('../network-command.js');
    await withRunningNode(cmd, passwordInputOf(cmd), (client) => runNetworkDisconnect(client, id));
  });
}
