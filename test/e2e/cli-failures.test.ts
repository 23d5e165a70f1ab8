// How the real `mycel` process fails: a coded line and a hint, never a stack trace, and
// nothing created by a start that cannot succeed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { cleanEnv, runMycel, type CliResult } from '../helpers/process.js';
import { TEST_DATABASE_URL } from '../helpers/env.js';
import { listenError } from '../../src/node/listen-check.js';
import { MycelError } from '../../src/errors.js';

const root = mkdtempSync(join(tmpdir(), 'mycel-cli-fail-'));
after(() => rmSync(root, { recursive: true, force: true }));
const cli = fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url));

function assertCoded(res: CliResult, code: string): void {
  assert.equal(res.code, 1, `exit code; stderr: ${res.stderr}`);
  assert.match(res.stderr, new RegExp(`(^|\\n)error ${code}: `), res.stderr);
  assert.match(res.stderr, /\nhint: \S/, res.stderr);
  assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
}

async function holdPort(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Runs `mycel <args>` with its stdout already closed by the reader, as in `mycel info | head -0`. */
async function runWithClosedStdout(args: string[], env: Record<string, string>): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code, signal, stdout: '', stderr };
}

test('a reader that closes the pipe early (`mycel info | head -1`) ends the command quietly, exit 0', async () => {
  const dir = join(root, 'epipe');
  const env = { MYCEL_DATA_DIR: dir, MYCEL_OWNER_PASSWORD: 'epipe-password' };
  assert.equal((await runMycel(['init'], env)).code, 0);
  const commands = [['info'], ['info', '--json'], ['config'], ['verify'], ['digest']];
  const results = await Promise.all(commands.map((args) => runWithClosedStdout(args, env)));
  results.forEach((res, i) => {
    const args = commands[i]!.join(' ');
    assert.equal(res.code, 0, `${args}: ${res.stderr}`);
    assert.doesNotMatch(res.stderr, /EPIPE|\n\s+at /, `${args}: ${res.stderr}`);
  });
});

test('a port in use: PORT_IN_USE with a hint to use --port, and no node is created', async () => {
  const { server, port } = await holdPort();
  try {
    const dir = join(root, 'port-busy');
    const res = await runMycel(['serve', '--port', String(port)], { MYCEL_DATA_DIR: dir });
    assertCoded(res, 'PORT_IN_USE');
    assert.match(res.stderr, new RegExp(`^error PORT_IN_USE: Port ${port} on 127\\.0\\.0\\.1 is already in use\\n`));
    assert.match(res.stderr, /hint: another process listens on 127\.0\.0\.1 port \d+: stop it, or choose another port with --port/);
    assert.equal(existsSync(dir), false, 'the data directory was not even created');

    // On an existing node the same, and the node is left as it was.
    const existing = join(root, 'port-busy-existing');
    assert.equal((await runMycel(['init'], { MYCEL_DATA_DIR: existing })).code, 0);
    assertCoded(await runMycel(['serve'], { MYCEL_DATA_DIR: existing, MYCEL_PORT: String(port) }), 'PORT_IN_USE');
    assert.equal((await runMycel(['info'], { MYCEL_DATA_DIR: existing })).code, 0);
  } finally {
    server.close();
  }
});

test('a listen that fails after the check (the port was taken in between) is PORT_IN_USE too', async () => {
  const { server, port } = await holdPort();
  try {
    const second = createServer();
    const err = await new Promise<Error>((resolve) => {
      second.once('error', resolve);
      second.listen({ host: '127.0.0.1', port });
    });
    const mapped = listenError(err, '127.0.0.1', port);
    assert.ok(mapped instanceof MycelError);
    assert.equal(mapped.code, 'PORT_IN_USE');
    assert.deepEqual(mapped.details, { host: '127.0.0.1', port });
  } finally {
    server.close();
  }
});

test('sslmode=require against a server without TLS: STORAGE_UNAVAILABLE with a hint about TLS', async () => {
  const url = `${TEST_DATABASE_URL}${TEST_DATABASE_URL.includes('?') ? '&' : '?'}sslmode=require`;
  for (const args of [['info'], ['serve', '--port', '0']]) {
    const res = await runMycel(args, { MYCEL_DATABASE_URL: url, MYCEL_DATA_DIR: join(root, 'tls') });
    assertCoded(res, 'STORAGE_UNAVAILABLE');
    assert.match(res.stderr, /does not support SSL connections/);
    assert.match(res.stderr, /hint: the PostgreSQL server does not accept TLS: remove sslmode=require/);
  }
});
