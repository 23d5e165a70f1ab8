import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { configSchema } from '../../src/config/schema.js';
import { runMycel, type CliResult } from '../helpers/process.js';

/** `mycel config` and the CLI's error handling, through the real CLI in a child process. */

const dir = mkdtempSync(join(tmpdir(), 'mycel-cli-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function yamlFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** runMycel drops the developer's MYCEL_* variables (and sets MYCEL_LOG_LEVEL=info, the default). */
const bare: Record<string, string> = {};

function assertConfigError(res: CliResult, code: string): string {
  assert.equal(res.code, 2, `exit code; stderr: ${res.stderr}`);
  assert.equal(res.stdout, '');
  const lines = res.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, `the error and a hint: ${res.stderr}`);
  assert.ok(lines[0]!.startsWith(`error ${code}: `), res.stderr);
  assert.ok(lines[1]!.startsWith('hint: '), res.stderr);
  assert.doesNotMatch(res.stderr, /\n\s+at /, 'no stack trace');
  return lines[0]!;
}

test('with nothing set, `mycel config` prints the schema defaults as YAML', async () => {
  const res = await runMycel(['config'], bare);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stderr, '');
  assert.deepEqual(parse(res.stdout), configSchema.parse({}));
  assert.match(res.stdout, /^# public URL: http:\/\/127\.0\.0\.1:5103$/m);
  assert.match(res.stdout, /^# data dir: \/.*mycel-data$/m);
});

test('the YAML output is itself a config file that loads to the same configuration', async () => {
  const first = await runMycel(['config', '--port', '6200', '--node-name', 'round-trip'], { ...bare, MYCEL_CHANNEL_PERSIST: 'true' });
  assert.equal(first.code, 0, first.stderr);
  const file = yamlFile('round-trip.yaml', first.stdout);
  const second = await runMycel(['config', '--config', file], bare);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.stdout, first.stdout);
});

test('`--json` prints JSON; secrets are redacted and never printed', async () => {
  const res = await runMycel(['config', '--json', '--port', '6100'], {
    ...bare,
    MYCEL_OWNER_PASSWORD: 'owner-pw-xyz',
    MYCEL_API_KEY: 'api-key-xyz-0123456789abcdef0123456789',
    MYCEL_DATABASE_URL: 'postgres://mycel:db-pw-xyz@127.0.0.1:5432/mycel',
    MYCEL_REDIS_URL: 'redis://:redis-pw-xyz@127.0.0.1:6379',
  });
  assert.equal(res.code, 0, res.stderr);
  const shown = JSON.parse(res.stdout) as ReturnType<typeof configSchema.parse>;
  assert.equal(shown.server.port, 6100);
  assert.equal(shown.owner.password, '[redacted]');
  assert.equal(shown.realtime.apiKey, '[redacted]');
  assert.equal(shown.database.url, 'postgres://mycel:[redacted]@127.0.0.1:5432/mycel');
  assert.equal(shown.realtime.redisUrl, 'redis://:[redacted]@127.0.0.1:6379');
  assert.doesNotMatch(res.stdout + res.stderr, /-pw-xyz|api-key-xyz/);
});

test('file < env < flags, with ${VAR} expanded; --config works before or after the command and via MYCEL_CONFIG', async () => {
  const file = yamlFile(
    'layers.yaml',
    'node:\n  name: ${NODE_NAME:-from-file}\nserver:\n  host: 0.0.0.0\n  port: ${FILE_PORT}\n  publicUrl:\n    host: example.org\n',
  );
  const variants: [string[], Record<string, string>][] = [
    [['config', '--json', '--config', file], {}],
    [['--config', file, 'config', '--json'], {}],
    [['config', '--json'], { MYCEL_CONFIG: file }],
  ];
  for (const [args, extra] of variants) {
    const res = await runMycel(args, { ...bare, FILE_PORT: '7001', ...extra });
    assert.equal(res.code, 0, res.stderr);
    const shown = JSON.parse(res.stdout) as { node: { name: string }; server: { host: string; port: number } };
    assert.deepEqual([shown.node.name, shown.server.host, shown.server.port], ['from-file', '0.0.0.0', 7001], args.join(' '));
  }

  const env = await runMycel(['config', '--json', '--config', file], { ...bare, FILE_PORT: '7001', MYCEL_PORT: '7002', NODE_NAME: 'from-var' });
  const fromEnv = JSON.parse(env.stdout) as { node: { name: string }; server: { port: number } };
  assert.deepEqual([fromEnv.node.name, fromEnv.server.port], ['from-var', 7002]);

  const flag = await runMycel(['config', '--config', file, '--port', '7003', '--node-name', 'from-flag'], {
    ...bare,
    FILE_PORT: '7001',
    MYCEL_PORT: '7002',
    MYCEL_NODE_NAME: 'from-env',
  });
  assert.equal(flag.code, 0, flag.stderr);
  const fromFlag = parse(flag.stdout) as { node: { name: string }; server: { port: number; host: string } };
  assert.deepEqual([fromFlag.node.name, fromFlag.server.port, fromFlag.server.host], ['from-flag', 7003, '0.0.0.0']);
  assert.match(flag.stdout, /^# public URL: http:\/\/example\.org:7003$/m);
});

test('a bad environment value: exit 2, one line naming the code, key and variable', async () => {
  const line = assertConfigError(await runMycel(['config'], { ...bare, MYCEL_PORT: 'eighty' }), 'CONFIG_INVALID');
  assert.match(line, /server\.port \(env MYCEL_PORT\): expected a number, got "eighty"/);
});

test('a bad flag value: exit 2 naming the flag', async () => {
  const line = assertConfigError(await runMycel(['config', '--log-level', 'loud'], bare), 'CONFIG_INVALID');
  assert.match(line, /log\.level \(flag --log-level\)/);
});

test('an unset ${VAR}: exit 2 naming the variable and the file', async () => {
  const file = yamlFile('missing-var.yaml', 'owner:\n  password: ${MYCEL_CLI_TEST_UNSET}\n');
  const line = assertConfigError(await runMycel(['config', '--config', file], bare), 'CONFIG_ENV_MISSING');
  assert.ok(line.includes('MYCEL_CLI_TEST_UNSET') && line.includes(file), line);
});

test('unknown keys and malformed YAML: exit 2 with the key, or the line and column', async () => {
  const unknown = yamlFile('unknown.yaml', 'server:\n  prot: 8080\n');
  const line = assertConfigError(await runMycel(['config', '--config', unknown], bare), 'CONFIG_INVALID');
  assert.match(line, /server\.prot \(file [^)]*unknown\.yaml\): unknown key/);

  const broken = yamlFile('broken.yaml', 'server:\n  port: 1\n  port: 2\n');
  const brokenLine = assertConfigError(await runMycel(['config', '--config', broken], bare), 'CONFIG_FILE_UNREADABLE');
  assert.match(brokenLine, /line 3, column 3/);

  const absent = join(dir, 'absent.yaml');
  const absentLine = assertConfigError(await runMycel(['config', '--config', absent], bare), 'CONFIG_FILE_UNREADABLE');
  assert.ok(absentLine.includes(absent), absentLine);
});

test('a config error does not echo a value that may hold a password', async () => {
  const res = await runMycel(['config'], { ...bare, MYCEL_DATABASE_URL: 'mysql://me:hunter2-secret@db/x' });
  assertConfigError(res, 'CONFIG_INVALID');
  assert.doesNotMatch(res.stderr, /hunter2/);
});

test('every command has --help with its options, and --version prints the package version', async () => {
  const expected: Record<string, string[]> = {
    serve: ['--port', '--host', '--data-dir', '--database-url', '--node-name', '--log-level', '--config'],
    init: ['--data-dir', '--database-url', '--node-name', '--config'],
    info: ['--json', '--data-dir', '--database-url', '--config'],
    verify: ['--json', '--data-dir', '--database-url', '--config'],
    config: ['--json', '--port', '--data-dir', '--config'],
  };
  const results = await Promise.all(Object.keys(expected).map((command) => runMycel([command, '--help'], bare)));
  Object.keys(expected).forEach((command, i) => {
    const res = results[i]!;
    assert.equal(res.code, 0, `${command}: ${res.stderr}`);
    assert.match(res.stdout, new RegExp(`^Usage: mycel ${command} `, 'm'));
    for (const option of expected[command]!) assert.ok(res.stdout.includes(option), `${command} --help lists ${option}`);
  });

  const owner = await runMycel(['owner', 'set-password', '--help'], bare);
  assert.equal(owner.code, 0, owner.stderr);
  assert.match(owner.stdout, /^Usage: mycel owner set-password /m);
  for (const option of ['--recover', '--data-dir', '--database-url', '--config']) assert.ok(owner.stdout.includes(option), `owner set-password --help lists ${option}`);

  const version = await runMycel(['--version'], bare);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(version.stdout.trim(), pkg.version);
});

test('`mycel config` output with secrets, fed back in, is refused instead of setting them to [redacted]', async () => {
  const first = await runMycel(['config'], {
    ...bare,
    MYCEL_OWNER_PASSWORD: 'owner-pw-round-trip',
    MYCEL_API_KEY: 'k'.repeat(40),
    MYCEL_DATA_DIR: join(dir, 'round-trip-secrets'),
  });
  assert.equal(first.code, 0, first.stderr);
  const file = yamlFile('with-secrets.yaml', first.stdout);
  const line = assertConfigError(await runMycel(['config', '--config', file], bare), 'CONFIG_INVALID');
  assert.match(line, /owner\.password \(file [^)]*\): is the placeholder \[redacted\]/);
  assert.match(line, /realtime\.apiKey \(file [^)]*\): is the placeholder \[redacted\]/);
  const init = await runMycel(['init', '--config', file], bare);
  assertConfigError(init, 'CONFIG_INVALID');
  assert.equal(existsSync(join(dir, 'round-trip-secrets')), false, 'no node was created');
});

test('a MYCEL_* variable that is not a setting is warned about with the closest name; MYCEL_DATA_DIR is read', async () => {
  const res = await runMycel(['config', '--json'], { ...bare, MYCEL_PROT: '8080', MYCEL_DATA_DIR: '/srv/mycel-data-dir', MYCEL_TEST_ANYTHING: 'x' });
  assert.equal(res.code, 0, res.stderr);
  assert.equal(
    res.stderr,
    'warning: MYCEL_PROT is not a Mycel setting and is ignored; did you mean MYCEL_PORT? (every variable: docs/config.md)\n',
  );
  const shown = JSON.parse(res.stdout) as { node: { dataDir: string }; server: { port: number } };
  assert.deepEqual([shown.node.dataDir, shown.server.port], ['/srv/mycel-data-dir', 5103]);
});
