import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { WorkbenchClient } from '../../compute/workbench-client.js';
import { MycelError } from '../../errors.js';
import { addConfigFlags, configFromCommand, positiveInt } from '../options.js';
import { localNodeUrl, passwordInputOf, REMOTE_HELP, remoteUrlOf, withRemote } from '../remote-target.js';

/** The node the command talks to: --node / MYCEL_NODE_URL, else the local node's server.host and server.port. */
function nodeUrlOf(cmd: Command): string {
  return remoteUrlOf(cmd) ?? localNodeUrl(configFromCommand(cmd));
}

/** The project token: the first line of --token-file, else MYCEL_PROJECT_TOKEN. Never an argument. */
function projectTokenOf(options: { tokenFile?: string }): string {
  if (options.tokenFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(options.tokenFile, 'utf8');
    } catch (err) {
      throw new MycelError('VALIDATION_FAILED', { field: 'token-file', reason: (err as NodeJS.ErrnoException).code ?? 'unreadable' }, `--token-file ${options.tokenFile} cannot be read`);
    }
    const token = text.split(/\r?\n/)[0]!.trim();
    if (token === '') throw new MycelError('VALIDATION_FAILED', { field: 'token-file' }, `--token-file ${options.tokenFile} is empty`);
    return token;
  }
  const token = process.env.MYCEL_PROJECT_TOKEN?.trim();
  if (!token) throw new MycelError('VALIDATION_FAILED', { field: 'token-file' }, 'give the project token with --token-file FILE or MYCEL_PROJECT_TOKEN');
  return token;
}

/** A plan file: JSON (.json) or YAML (anything else; JSON is YAML too). */
function readPlan(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new MycelError('VALIDATION_FAILED', { field: 'plan', reason: (err as NodeJS.ErrnoException).code ?? 'unreadable' }, `the plan file ${path} cannot be read`);
  }
  try {
    return path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new MycelError('PLAN_INVALID', { path: '' }, `${path}: not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${err instanceof Error ? err.message.split('\n')[0] : ''}`);
  }
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

const WORKBENCH_HELP = `
The node: --node URL (or MYCEL_NODE_URL), else this configuration's server.host and server.port.
The project token: the first line of --token-file FILE, else MYCEL_PROJECT_TOKEN; it is sent as
Authorization: Bearer, never in a URL, and is never a command-line argument.`;

/** `mycel compute invite|submit|status|result` (docs/compute.md "CLI"). */
export function registerComputeCommand(program: Command): void {
  const compute = program.command('compute').description('federated compute: invite clients (owner), submit plans and read jobs (project token)');

  const invite = compute
    .command('invite')
    .description('issue a single-use invitation for a compute client, or with --kind node for a further aggregation node (owner); prints the secret once, for its compute.join.invitation')
    .option('--ttl <seconds>', 'seconds the invitation stays valid (60 to 2592000)', positiveInt, 86_400)
    .addOption(new Option('--kind <kind>', 'client (mci_…), or node (mcn_…): a further aggregation node, which joins as a read-only child that pulls this node\'s whole database').choices(['client', 'node']).default('client'));
  addConfigFlags(invite, ['server.host', 'server.port']).addHelpText('after', `\nTalks to the running node: --node URL (or MYCEL_NODE_URL), else server.host and server.port.${REMOTE_HELP}`);
  invite.action(async (options: { ttl: number; kind: 'client' | 'node' }, cmd: Command) => {
    const url = nodeUrlOf(cmd);
    await withRemote(cmd, url, passwordInputOf(cmd), async (client) => {
      const issued = await client.request<{ id: string; secret: string; expiresAt: number }>('POST', '/api/v1/compute/invitations', { ttlSeconds: options.ttl, kind: options.kind });
      process.stdout.write(`${issued.secret}\n`);
      process.stderr.write(`invitation ${issued.id}, valid until ${new Date(issued.expiresAt).toISOString()}; shown once\n`);
    });
  });

  const submit = compute
    .command('submit <plan>')
    .description('submit a plan (plan.yaml or plan.json); prints the job as JSON')
    .option('--token-file <file>', 'file whose first line is the project token (default: $MYCEL_PROJECT_TOKEN)')
    .option('--wait', 'wait until the job is done, failed or partial, and print its status');
  addConfigFlags(submit, ['server.host', 'server.port']).addHelpText('after', WORKBENCH_HELP);
  submit.action(async (planPath: string, options: { tokenFile?: string; wait?: boolean }, cmd: Command) => {
    const wb = new WorkbenchClient(nodeUrlOf(cmd), projectTokenOf(options));
    const { job } = await wb.submit(readPlan(planPath));
    print(options.wait ? await wb.wait(job.id) : { job });
  });

  const status = compute
    .command('status <job>')
    .description('print a job\'s status as JSON: its round, and per task the client, status, attempts and error')
    .option('--token-file <file>', 'file whose first line is the project token (default: $MYCEL_PROJECT_TOKEN)');
  addConfigFlags(status, ['server.host', 'server.port']).addHelpText('after', WORKBENCH_HELP);
  status.action(async (jobId: string, options: { tokenFile?: string }, cmd: Command) => {
    print(await new WorkbenchClient(nodeUrlOf(cmd), projectTokenOf(options)).status(jobId));
  });

  const result = compute
    .command('result <job>')
    .description('print a job\'s result as JSON (aggregates, never rows; null until it finishes)')
    .option('--token-file <file>', 'file whose first line is the project token (default: $MYCEL_PROJECT_TOKEN)');
  addConfigFlags(result, ['server.host', 'server.port']).addHelpText('after', `${WORKBENCH_HELP}\nRESOURCE_DOWNLOAD_DISABLED when the node's compute.allowResourceDownload is false.`);
  result.action(async (jobId: string, options: { tokenFile?: string }, cmd: Command) => {
    print(await new WorkbenchClient(nodeUrlOf(cmd), projectTokenOf(options)).result(jobId));
  });
}
