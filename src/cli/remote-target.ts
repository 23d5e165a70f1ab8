import type { Command } from 'commander';
import type { Config } from '../config/index.js';
import { MycelError } from '../errors.js';
import { NodeClient, nodeBaseUrl, type RemoteCredentials } from './node-client.js';
import { pipedPasswordInput, stdinPasswordInput, type PasswordInput } from './password-input.js';

/**
 * Where a command runs and as whom. `--node URL` (or MYCEL_NODE_URL) sends it to that node over
 * REST; the credential is the node's owner password (MYCEL_OWNER_PASSWORD, standard input, or a
 * prompt) or, with `--as-node ID`, the password of a client node registered there
 * (MYCEL_NODE_PASSWORD, standard input, or a prompt). Passwords never come from argv.
 */

/** The global options every command sees (program-level, so `mycel --node URL info` and `mycel info --node URL` both work). */
export interface RemoteOptions {
  node?: string;
  asNode?: string;
  passwordStdin?: boolean;
}

const nonEmpty = (value: string | undefined): string | undefined => (value === undefined || value === '' ? undefined : value);

function remoteOptions(cmd: Command): RemoteOptions {
  return cmd.optsWithGlobals<RemoteOptions>();
}

/** The remote node's base URL when the command is to run there (--node wins over MYCEL_NODE_URL), else undefined. */
export function remoteUrlOf(cmd: Command): string | undefined {
  const raw = nonEmpty(remoteOptions(cmd).node) ?? nonEmpty(process.env.MYCEL_NODE_URL);
  return raw === undefined ? undefined : nodeBaseUrl(raw);
}

/**
 * Passwords for one command run, shared by the credential and the command's own passwords
 * (`nodes add`), which come in that order when piped: the credential first, one per line.
 */
export function passwordInputOf(cmd: Command): PasswordInput {
  return remoteOptions(cmd).passwordStdin ? pipedPasswordInput() : stdinPasswordInput();
}

/** Standard input ended before a credential: say every way to give one. */
async function readCredential(passwords: PasswordInput, prompt: string, variable: string): Promise<string> {
  try {
    return await passwords.read(prompt);
  } catch (err) {
    if (err instanceof MycelError && err.code === 'VALIDATION_FAILED') {
      throw new MycelError('VALIDATION_FAILED', { field: 'password' }, `No password: set ${variable}, pipe it in (--password-stdin), or run on a terminal to be asked`);
    }
    throw err;
  }
}

/**
 * The credential to log in with at `url`. `ownerPassword` is where the owner password comes
 * from before asking (MYCEL_OWNER_PASSWORD for a remote node; the local configuration's
 * owner.password for the local one).
 */
export async function credentialsOf(cmd: Command, url: string, passwords: PasswordInput, ownerPassword: string | undefined): Promise<RemoteCredentials> {
  const asNode = nonEmpty(remoteOptions(cmd).asNode);
  if (asNode !== undefined) {
    const password = nonEmpty(process.env.MYCEL_NODE_PASSWORD) ?? (await readCredential(passwords, `Password of node ${asNode} at ${url}: `, 'MYCEL_NODE_PASSWORD'));
    return { kind: 'node', nodeId: asNode, password };
  }
  const password = nonEmpty(ownerPassword) ?? (await readCredential(passwords, `Owner password of ${url}: `, 'MYCEL_OWNER_PASSWORD'));
  return { kind: 'owner', password };
}

/** Logs in at `url`, runs `work` with the client, and logs out again whatever happens. */
export async function withNodeClient<T>(
  cmd: Command,
  url: string,
  passwords: PasswordInput,
  ownerPassword: string | undefined,
  work: (client: NodeClient) => Promise<T>,
): Promise<T> {
  const client = new NodeClient(url);
  await client.login(await credentialsOf(cmd, url, passwords, ownerPassword));
  try {
    return await work(client);
  } finally {
    await client.logout();
  }
}

/** Logs in at the remote node of `--node` / MYCEL_NODE_URL (the owner password from MYCEL_OWNER_PASSWORD when set). */
export function withRemote<T>(cmd: Command, url: string, passwords: PasswordInput, work: (client: NodeClient) => Promise<T>): Promise<T> {
  return withNodeClient(cmd, url, passwords, process.env.MYCEL_OWNER_PASSWORD, work);
}

/**
 * The REST URL of the node this data directory belongs to, for commands that need it running
 * (`nodes connect|disconnect|status` without --node): server.host and server.port, with a
 * wildcard address reached over loopback.
 */
export function localNodeUrl(config: Config): string {
  const { host, port } = config.server;
  if (port === 0) {
    throw new MycelError('VALIDATION_FAILED', { field: 'server.port' }, 'server.port is 0 (a free port picked at start): give the running node\'s URL with --node');
  }
  const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const bracketed = reachable.includes(':') && !reachable.startsWith('[') ? `[${reachable}]` : reachable;
  return nodeBaseUrl(`http://${bracketed}:${port}`);
}

/** Refuses the client-node credential where a command reads the local database directly. */
export function assertNoAsNode(cmd: Command): void {
  if (nonEmpty(remoteOptions(cmd).asNode) !== undefined) {
    throw new MycelError('VALIDATION_FAILED', { field: 'as-node' }, '--as-node logs in at a running node: give its URL with --node (or MYCEL_NODE_URL)');
  }
}

/** The --help text of every command that can run on a remote node. */
export const REMOTE_HELP = `
On another node: mycel --node URL … (or MYCEL_NODE_URL=URL), over its REST API.
  As its owner: the owner password from MYCEL_OWNER_PASSWORD, else standard input (--password-stdin), else asked.
  As a client node registered there with owner rights: --as-node ID, the password from MYCEL_NODE_PASSWORD,
  else standard input, else asked. Passwords are never command-line arguments.`;

/** The commands that can run on a remote node (`nodes connect|disconnect|status` always talk to a running one). */
const REMOTE_CAPABLE = new Set(['info', 'digest', 'nodes', 'channels', 'posts', 'store', 'cat', 'load', 'compute']);

/**
 * `--node` on a command that only works on the local data directory (serve, init, verify,
 * config, owner) is a mistake, refused before it runs; MYCEL_NODE_URL, a standing setting of
 * the shell, only draws a warning there.
 */
export function refuseRemoteForLocalCommands(program: Command): void {
  program.hook('preAction', (_program, action) => {
    let top: Command = action;
    while (top.parent && top.parent !== program) top = top.parent;
    if (REMOTE_CAPABLE.has(top.name())) return;
    const options = remoteOptions(action);
    if (nonEmpty(options.node) !== undefined || nonEmpty(options.asNode) !== undefined) {
      throw new MycelError('VALIDATION_FAILED', { field: 'node' }, `mycel ${top.name()} runs on the local node only: --node and --as-node are for info, digest, nodes, channels, posts, store, cat, load and compute`);
    }
    if (nonEmpty(process.env.MYCEL_NODE_URL) !== undefined) {
      process.stderr.write(`warning: MYCEL_NODE_URL is set, but mycel ${top.name()} runs on the local node only\n`);
    }
  });
}
