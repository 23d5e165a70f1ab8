/**
 * Shared pieces of the CLI end-to-end tests of remote administration and the content commands
 * (remote-admin*.test.ts, content-cli.test.ts): result checks that also make sure no password
 * shows in the output, a loopback port nothing listens on, a fresh node.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { runMycel, type CliResult } from '../helpers/process.js';

/** Many log-ins: every command run with --node logs in once. */
export const SERVE_ENV = { MYCEL_LOGIN_ATTEMPTS_PER_MINUTE: '10000' };

export interface CliChecks {
  /** Exit 0 and no secret in the output; answers stdout. */
  ok(res: CliResult, what: string): string;
  /** Exit 1 with `error CODE: …`, a hint, no stack trace and no secret. */
  fails(res: CliResult, code: string, what: string): void;
}

export function cliChecks(secrets: readonly string[]): CliChecks {
  return {
    ok(res, what) {
      assert.equal(res.code, 0, `${what}: exit ${res.code}\n${res.stderr}`);
      for (const secret of secrets) assert.ok(!res.stdout.includes(secret) && !res.stderr.includes(secret), `${what}: a password shows in the output`);
      return res.stdout;
    },
    fails(res, code, what) {
      assert.equal(res.code, 1, `${what}: exit ${res.code}\n${res.stdout}\n${res.stderr}`);
      assert.match(res.stderr, new RegExp(`^error ${code}: `), what);
      assert.match(res.stderr, /\nhint: /, `${what}: a hint`);
      assert.doesNotMatch(res.stderr, /\n\s+at /, `${what}: no stack trace`);
      for (const secret of secrets) assert.ok(!res.stderr.includes(secret), `${what}: a password shows in the error`);
    },
  };
}

/** A loopback port nothing listens on. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Creates a node in `dir` with the owner password; answers its id. */
export async function initNode(dir: string, ownerPassword: string): Promise<string> {
  const init = await runMycel(['init'], { MYCEL_DATA_DIR: dir, MYCEL_OWNER_PASSWORD: ownerPassword });
  assert.equal(init.code, 0, init.stderr);
  const info = await runMycel(['info', '--json'], { MYCEL_DATA_DIR: dir });
  assert.equal(info.code, 0, info.stderr);
  return (JSON.parse(info.stdout) as { nodeId: string }).nodeId;
}
