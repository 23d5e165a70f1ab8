import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MycelError } from '../errors.js';
import { databaseKind, loadConfig, publicUrl, resolveDataDir, type ConfigIssue, type FrozenConfig } from './load.js';
import { configSchema, type Config } from './schema.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
/** Writes a YAML file in the test's temp dir and returns its absolute path. */
function yamlFile(text: string): string {
  const path = join(dir, `config-${++fileCount}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** Runs fn, expects a MycelError with this code, returns it. */
function expectError(code: string, fn: () => unknown): MycelError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MycelError, `expected a MycelError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, but nothing was thrown`);
}

function issuesOf(err: MycelError): ConfigIssue[] {
  return (err.details as { issues: ConfigIssue[] }).issues;
}

test('with nothing set, the config is the schema defaults', () => {
  const config = loadConfig({ env: {} });
  assert.deepEqual(config, configSchema.parse({}));
  assert.equal(config.server.port, 5103);
  assert.equal(config.server.host, '127.0.0.1');
  assert.equal(config.node.dataDir, './mycel-data');
  assert.equal(config.database.url, 'sqlite');
  assert.equal(config.server.sessionMinutes, 1440);
});

test('precedence: defaults < file < env < flags, in every combination', () => {
  const file = yamlFile('server:\n  port: 6001\n');
  for (const useFile of [false, true]) {
    for (const useEnv of [false, true]) {
      for (const useFlag of [false, true]) {
        const config = loadConfig({
          configFile: useFile ? file : undefined,
          env: useEnv ? { MYCEL_PORT: '6002' } : {},
          flags: useFlag ? { port: '6003' } : {},
        });
        const expected = useFlag ? 6003 : useEnv ? 6002 : useFile ? 6001 : 5103;
        assert.equal(config.server.port, expected, `file=${useFile} env=${useEnv} flag=${useFlag}`);
      }
    }
  }
});

test('layers merge key by key: a higher layer replaces only the keys it sets', () => {
  const file = yamlFile(
    'node:\n  name: from-file\n  dataDir: /srv/file\nserver:\n  host: 0.0.0.0\n  port: 7000\n  publicUrl:\n    host: example.org\nlog:\n  level: warn\n',
  );
  const config = loadConfig({
    configFile: file,
    env: { MYCEL_PORT: '7001', MYCEL_URL_SCHEME: 'https', MYCEL_NODE_NAME: 'from-env' },
    flags: { dataDir: '/srv/flag', json: true, somethingElse: 'ignored' },
  });
  assert.equal(config.node.name, 'from-env');
  assert.equal(config.node.dataDir, '/srv/flag');
  assert.equal(config.server.host, '0.0.0.0', 'kept from the file');
  assert.equal(config.server.port, 7001);
  assert.deepEqual(config.server.publicUrl, { scheme: 'https', host: 'example.org' });
  assert.equal(config.log.level, 'warn');
  assert.equal(config.server.sessionMinutes, 1440, 'default where nothing is set');
});

test('the file comes from configFile, else flags.config, else MYCEL_CONFIG; relative to cwd', () => {
  const a = yamlFile('node:\n  name: a\n');
  const b = yamlFile('node:\n  name: b\n');
  const c = yamlFile('node:\n  name: c\n');
  assert.equal(loadConfig({ configFile: a, flags: { config: b }, env: { MYCEL_CONFIG: c } }).node.name, 'a');
  assert.equal(loadConfig({ flags: { config: b }, env: { MYCEL_CONFIG: c } }).node.name, 'b');
  assert.equal(loadConfig({ env: { MYCEL_CONFIG: c } }).node.name, 'c');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'sub', 'rel.yaml'), 'node:\n  name: relative\n');
  assert.equal(loadConfig({ configFile: 'sub/rel.yaml', cwd: dir, env: {} }).node.name, 'relative');
});

test('an empty file (or only comments) means defaults', () => {
  assert.deepEqual(loadConfig({ configFile: yamlFile(''), env: {} }), configSchema.parse({}));
  assert.deepEqual(loadConfig({ configFile: yamlFile('# nothing yet\n'), env: {} }), configSchema.parse({}));
});

test('environment strings are coerced to numbers and booleans', () => {
  const config = loadConfig({
    env: {
      MYCEL_PORT: '8080',
      MYCEL_BODY_LIMIT: ' 2048 ',
      MYCEL_ALLOW_ANONYMOUS: 'true',
      MYCEL_CHANNEL_RECOVERY: '0',
      MYCEL_CHANNEL_PERSIST: '1',
      MYCEL_CHANNEL_JOIN_LEAVE: 'FALSE',
      MYCEL_LOG_LEVEL: 'debug',
      MYCEL_OWNER_REMOTE_NODE_ID: '0190f5a0-0000-7000-8000-000000000001',
    },
  });
  assert.equal(config.server.port, 8080);
  assert.equal(config.server.bodyLimit, 2048);
  assert.equal(config.realtime.allowAnonymous, true);
  assert.equal(config.realtime.channel.recovery, false);
  assert.equal(config.realtime.channel.persist, true);
  assert.equal(config.realtime.channel.joinLeave, false);
  assert.equal(config.log.level, 'debug');
  assert.equal(config.owner.remoteNodeId, '0190f5a0-0000-7000-8000-000000000001');
});

test('an empty environment variable counts as unset', () => {
  assert.equal(loadConfig({ env: { MYCEL_PORT: '', MYCEL_NODE_NAME: '' } }).server.port, 5103);
});

test('a bad environment value is an error that names the variable and the key', () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ MYCEL_PORT: 'abc' }, 'server.port', /expected a number, got "abc"/],
    [{ MYCEL_PORT: '70000' }, 'server.port', /65535/],
    [{ MYCEL_PORT: '80.5' }, 'server.port', /int/i],
    [{ MYCEL_ALLOW_ANONYMOUS: 'yes' }, 'realtime.allowAnonymous', /true, false, 1 or 0/],
    [{ MYCEL_LOG_LEVEL: 'loud' }, 'log.level', /info/],
    [{ MYCEL_URL_SCHEME: 'ftp' }, 'server.publicUrl.scheme', /https/],
    [{ MYCEL_OWNER_REMOTE_NODE_ID: 'not-a-uuid' }, 'owner.remoteNodeId', /uuid/i],
    [{ MYCEL_SESSION_MINUTES: '0' }, 'server.sessionMinutes', /1/],
  ];
  for (const [env, key, message] of cases) {
    const err = expectError('CONFIG_INVALID', () => loadConfig({ env }));
    const variable = Object.keys(env)[0]!;
    const issues = issuesOf(err);
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.equal(issues[0]!.key, key);
    assert.equal(issues[0]!.source, `env ${variable}`);
    assert.match(issues[0]!.message, message);
    assert.ok(err.message.includes(variable) && err.message.includes(key), err.message);
  }
});

test('a bad flag value names the flag', () => {
  const err = expectError('CONFIG_INVALID', () => loadConfig({ env: {}, flags: { port: 'eighty', logLevel: 'loud' } }));
  const issues = issuesOf(err);
  assert.deepEqual(
    issues.map((i) => [i.key, i.source]),
    [
      ['server.port', 'flag --port'],
      ['log.level', 'flag --log-level'],
    ],
  );
});

test('every issue is reported at once, each with its key and source', () => {
  const file = yamlFile('server:\n  port: -1\n  sessionMinutes: "long"\n');
  const err = expectError('CONFIG_INVALID', () => loadConfig({ configFile: file, env: { MYCEL_BODY_LIMIT: '10' } }));
  const issues = issuesOf(err);
  const byKey = Object.fromEntries(issues.map((i) => [i.key, i.source]));
  assert.deepEqual(byKey, {
    'server.port': `file ${file}`,
    'server.sessionMinutes': `file ${file}`,
    'server.bodyLimit': 'env MYCEL_BODY_LIMIT',
  });
});

test('unknown keys in the file are errors, at any depth, with the known keys as a hint', () => {
  const file = yamlFile('servr:\n  port: 1\nserver:\n  prot: 8080\nrealtime:\n  namespaces:\n    chat:\n      histroySize: 5\n');
  const err = expectError('CONFIG_INVALID', () => loadConfig({ configFile: file, env: {} }));
  const issues = issuesOf(err);
  assert.deepEqual(issues.map((i) => i.key).sort(), ['realtime.namespaces.chat.histroySize', 'server.prot', 'servr']);
  for (const issue of issues) {
    assert.match(issue.message, /unknown key/);
    assert.equal(issue.source, `file ${file}`);
  }
  assert.match(issues.find((i) => i.key === 'server.prot')!.message, /known keys here: host, port,/);
});

test('`__proto__` in the file is an unknown key, not a prototype', () => {
  const file = yamlFile('server:\n  __proto__:\n    port: 1\n');
  const err = expectError('CONFIG_INVALID', () => loadConfig({ configFile: file, env: {} }));
  assert.deepEqual(issuesOf(err).map((i) => i.key), ['server.__proto__']);
});

test('a ${VAR} under a key named like an Object.prototype member is an unknown key, not a crash', () => {
  const file = yamlFile('server:\n  constructor: ${A}\n__proto__:\n  - ${A}\n');
  const err = expectError('CONFIG_INVALID', () => loadConfig({ configFile: file, env: { A: '1' } }));
  assert.deepEqual(issuesOf(err).map((i) => i.key).sort(), ['__proto__', 'server.constructor']);
});

test('namespaces are read from the file with their defaults filled in', () => {
  const file = yamlFile('realtime:\n  namespaces:\n    chat:\n      persist: true\n      historySize: 10\n    bad name:\n      persist: true\n');
  const err = expectError('CONFIG_INVALID', () => loadConfig({ configFile: file, env: {} }));
  assert.ok(issuesOf(err).some((i) => i.key.startsWith('realtime.namespaces')), err.message);

  const good = yamlFile('realtime:\n  namespaces:\n    chat:\n      persist: true\n      historySize: 10\n');
  const config = loadConfig({ configFile: good, env: {} });
  assert.equal(config.realtime.namespaces.chat?.persist, true);
  assert.equal(config.realtime.namespaces.chat?.historySize, 10);
  assert.equal(config.realtime.namespaces.chat?.publish, 'user');
});

test('${VAR} and ${VAR:-default} in the file, whole and partial, typed per key', () => {
  const file = yamlFile(
    [
      'node:',
      '  name: node-${SUFFIX}',
      'server:',
      '  port: ${PORT}',
      '  host: ${HOST:-0.0.0.0}',
      '  sessionMinutes: ${MINUTES:-60}',
      'database:',
      '  url: postgres://mycel:${DB_PASSWORD}@${DB_HOST:-localhost}:5432/mycel',
      'realtime:',
      '  allowAnonymous: ${ANON:-false}',
      '  apiKey: "$${not-a-reference}-0123456789abcdef"',
      '  namespaces:',
      '    chat:',
      '      historySize: ${CHAT_HISTORY:-7}',
    ].join('\n'),
  );
  const config = loadConfig({
    configFile: file,
    env: { SUFFIX: 'a', PORT: '9001', DB_PASSWORD: 'pw', MINUTES: '', ANON: 'true' },
  });
  assert.equal(config.node.name, 'node-a');
  assert.equal(config.server.port, 9001);
  assert.equal(config.server.host, '0.0.0.0');
  assert.equal(config.server.sessionMinutes, 60, 'an empty variable takes the default');
  assert.equal(config.database.url, 'postgres://mycel:pw@localhost:5432/mycel');
  assert.equal(config.realtime.allowAnonymous, true);
  assert.equal(config.realtime.apiKey, '${not-a-reference}-0123456789abcdef');
  assert.equal(config.realtime.namespaces.chat?.historySize, 7);
});

test('an unset ${VAR} without default stops loading, naming the variable and the file', () => {
  const file = yamlFile('owner:\n  password: ${MYCEL_TEST_UNSET_PASSWORD}\n');
  const err = expectError('CONFIG_ENV_MISSING', () => loadConfig({ configFile: file, env: { OTHER: 'x' } }));
  assert.deepEqual(err.details, { variable: 'MYCEL_TEST_UNSET_PASSWORD', file, key: 'owner.password' });
  assert.ok(err.message.includes('MYCEL_TEST_UNSET_PASSWORD'), err.message);
  assert.ok(err.message.includes(file), err.message);
});

test('interpolation reads the env passed in, and only the file is interpolated', () => {
  const file = yamlFile('node:\n  name: ${NAME}\n');
  assert.equal(loadConfig({ configFile: file, env: { NAME: 'given' } }).node.name, 'given');
  // A value from the environment is taken literally.
  assert.equal(loadConfig({ env: { MYCEL_NODE_NAME: '${NAME}', NAME: 'x' } }).node.name, '${NAME}');
});

test('an interpolated value of the wrong type is an error naming the key and the file', () => {
  const file = yamlFile('server:\n  port: ${PORT}\n');
  const err = expectError('CONFIG_INVALID', () => loadConfig({ configFile: file, env: { PORT: 'http' } }));
  assert.deepEqual(issuesOf(err), [{ key: 'server.port', message: 'expected a number, got "http"', source: `file ${file}` }]);
});

test('a malformed reference is an error naming the key', () => {
  const file = yamlFile('node:\n  name: "${oops"\n');
  const err = expectError('CONFIG_INVALID', () => loadConfig({ configFile: file, env: {} }));
  assert.equal(issuesOf(err)[0]!.key, 'node.name');
  assert.match(issuesOf(err)[0]!.message, /not a valid reference/);
});

test('a missing file is CONFIG_FILE_UNREADABLE naming the file', () => {
  const missing = join(dir, 'nope.yaml');
  const err = expectError('CONFIG_FILE_UNREADABLE', () => loadConfig({ configFile: missing, env: {} }));
  assert.equal((err.details as { file: string }).file, missing);
  assert.ok(err.message.includes(missing));
});

test('malformed YAML is CONFIG_FILE_UNREADABLE with the parser line and column', () => {
  const cases: [string, number, number][] = [
    ['server:\n  port: 1\n port: 2\n', 3, 1],
    ['server:\n  port: 1\n  port: 2\n', 3, 3],
    ['node:\n  name: "unterminated\n', 3, 1],
  ];
  for (const [text, line, column] of cases) {
    const file = yamlFile(text);
    const err = expectError('CONFIG_FILE_UNREADABLE', () => loadConfig({ configFile: file, env: {} }));
    const details = err.details as { file: string; line: number; column: number; reason: string };
    assert.equal(details.file, file);
    assert.equal(details.line, line, `${JSON.stringify(text)}: ${err.message}`);
    assert.equal(details.column, column, `${JSON.stringify(text)}: ${err.message}`);
    assert.ok(err.message.includes(`line ${line}, column ${column}`), err.message);
    assert.ok(!err.message.includes('\n'), 'one line');
  }
});

test('a file that is not a mapping is CONFIG_INVALID', () => {
  const err = expectError('CONFIG_INVALID', () => loadConfig({ configFile: yamlFile('- a\n- b\n'), env: {} }));
  assert.match(err.message, /mapping/);
  const wrongSection = expectError('CONFIG_INVALID', () => loadConfig({ configFile: yamlFile('server: 8080\n'), env: {} }));
  assert.equal(issuesOf(wrongSection)[0]!.key, 'server');
});

test('a higher layer may fill a section the file left empty', () => {
  const config = loadConfig({ configFile: yamlFile('server:\n'), env: { MYCEL_PORT: '5200' } });
  assert.equal(config.server.port, 5200);
});

test('the result is deeply frozen and shares nothing with the inputs', () => {
  const flags = { port: '5300' };
  const env = { MYCEL_NODE_NAME: 'frozen' };
  const file = yamlFile('realtime:\n  namespaces:\n    chat:\n      persist: true\n');
  const config = loadConfig({ configFile: file, flags, env });
  for (const part of [config, config.node, config.server, config.server.publicUrl, config.realtime, config.realtime.channel, config.realtime.namespaces, config.realtime.namespaces.chat]) {
    assert.ok(Object.isFrozen(part));
  }
  const mutable = config as unknown as Config;
  assert.throws(() => {
    mutable.server.port = 1;
  }, TypeError);
  assert.throws(() => {
    mutable.realtime.namespaces.other = mutable.realtime.channel;
  }, TypeError);
  assert.throws(() => {
    mutable.realtime.namespaces.chat!.persist = false;
  }, TypeError);
  assert.equal(config.server.port, 5300);
  assert.deepEqual(flags, { port: '5300' }, 'inputs untouched');
  assert.deepEqual(env, { MYCEL_NODE_NAME: 'frozen' });
  const again = loadConfig({ configFile: file, flags, env });
  assert.notEqual(again, config);
  assert.deepEqual(again, config);
});

test('database.url must be sqlite, :memory: or a postgres URL; databaseKind tells which', () => {
  const kinds: [string, string][] = [
    ['sqlite', 'sqlite'],
    [':memory:', 'memory'],
    ['postgres://u:p@127.0.0.1:5432/db', 'postgres'],
    ['postgresql://127.0.0.1/db', 'postgres'],
  ];
  for (const [url, kind] of kinds) {
    assert.equal(databaseKind(loadConfig({ env: { MYCEL_DATABASE_URL: url } })), kind);
  }
  const err = expectError('CONFIG_INVALID', () => loadConfig({ env: { MYCEL_DATABASE_URL: 'mysql://x/y' } }));
  assert.deepEqual(
    issuesOf(err).map((i) => [i.key, i.source]),
    [['database.url', 'env MYCEL_DATABASE_URL']],
  );
  assert.doesNotMatch(err.message, /mysql:\/\/x/, 'the URL (which may hold a password) is not echoed');
});

test('publicUrl: scheme, host and port with fallbacks; default ports left out', () => {
  const url = (env: Record<string, string>, boundPort?: number) => publicUrl(loadConfig({ env }), boundPort);
  assert.equal(url({}), 'http://127.0.0.1:5103');
  assert.equal(url({ MYCEL_HOST: '0.0.0.0', MYCEL_URL_HOST: 'Example.COM' }), 'http://example.com:5103');
  assert.equal(url({ MYCEL_URL_SCHEME: 'https', MYCEL_URL_HOST: 'example.com', MYCEL_URL_PORT: '443' }), 'https://example.com');
  assert.equal(url({ MYCEL_URL_HOST: 'example.com', MYCEL_URL_PORT: '80' }), 'http://example.com');
  assert.equal(url({ MYCEL_URL_SCHEME: 'https', MYCEL_URL_HOST: 'example.com', MYCEL_URL_PORT: '80' }), 'https://example.com:80');
  assert.equal(url({ MYCEL_PORT: '8443', MYCEL_URL_SCHEME: 'https' }), 'https://127.0.0.1:8443');
  assert.equal(url({ MYCEL_HOST: '::1' }), 'http://[::1]:5103');
  assert.equal(url({ MYCEL_PORT: '0' }, 40123), 'http://127.0.0.1:40123', 'the bound port when configured as 0');
  assert.equal(url({ MYCEL_PORT: '5000' }, 40123), 'http://127.0.0.1:5000', 'a fixed port wins over the bound one');
  assert.equal(url({ MYCEL_PORT: '0', MYCEL_URL_PORT: '8080' }, 40123), 'http://127.0.0.1:8080');
});

test('a public host that is not a host is a config error', () => {
  for (const host of ['exa mple.com', 'example.com/path', 'user@example.com']) {
    const err = expectError('CONFIG_INVALID', () => loadConfig({ env: { MYCEL_URL_HOST: host } }));
    assert.deepEqual(
      issuesOf(err).map((i) => [i.key, i.source]),
      [['server.publicUrl.host', 'env MYCEL_URL_HOST']],
      host,
    );
  }
  const viaServerHost = expectError('CONFIG_INVALID', () => loadConfig({ env: {}, flags: { host: 'bad host' } }));
  assert.deepEqual(issuesOf(viaServerHost).map((i) => [i.key, i.source]), [['server.host', 'flag --host']]);
});

test('resolveDataDir gives an absolute path', () => {
  const at = (dataDir: string): FrozenConfig => loadConfig({ env: { MYCEL_DB_DIR: dataDir } });
  assert.equal(resolveDataDir(at('./mycel-data'), '/srv/app'), '/srv/app/mycel-data');
  assert.equal(resolveDataDir(at('data/../d2'), '/srv/app'), '/srv/app/d2');
  assert.equal(resolveDataDir(at('/var/lib/mycel/'), '/srv/app'), '/var/lib/mycel');
  assert.equal(resolveDataDir(at('~/mycel'), '/srv/app'), join(homedir(), 'mycel'));
  assert.equal(resolveDataDir(at('./x')), join(process.cwd(), 'x'));
});

test('a secret that is the [redacted] placeholder is refused, from any layer', () => {
  const file = yamlFile('owner:\n  password: "[redacted]"\nrealtime:\n  apiKey: "[redacted]"\n');
  const fromFile = expectError('CONFIG_INVALID', () => loadConfig({ configFile: file, env: {} }));
  assert.deepEqual(
    issuesOf(fromFile).map((i) => [i.key, i.source]),
    [
      ['owner.password', `file ${file}`],
      ['realtime.apiKey', `file ${file}`],
    ],
  );
  assert.match(fromFile.message, /placeholder \[redacted\] that `mycel config` prints/);
  const fromEnv = expectError('CONFIG_INVALID', () =>
    loadConfig({ env: { MYCEL_OWNER_REMOTE_NODE_PASSWORD: '[redacted]', MYCEL_DATABASE_URL: 'postgres://mycel:[redacted]@db/mycel' } }),
  );
  assert.deepEqual(
    issuesOf(fromEnv).map((i) => [i.key, i.source]),
    [
      ['owner.remoteNodePassword', 'env MYCEL_OWNER_REMOTE_NODE_PASSWORD'],
      ['database.url', 'env MYCEL_DATABASE_URL'],
    ],
  );
});

test('an API key under 32 bytes and an owner password under 8 characters are refused', () => {
  const short = expectError('CONFIG_INVALID', () => loadConfig({ env: { MYCEL_API_KEY: 'x'.repeat(31), MYCEL_OWNER_PASSWORD: 'seven77' } }));
  assert.deepEqual(
    issuesOf(short).map((i) => [i.key, i.source]),
    [
      ['owner.password', 'env MYCEL_OWNER_PASSWORD'],
      ['realtime.apiKey', 'env MYCEL_API_KEY'],
    ],
  );
  assert.match(short.message, /at least 32 bytes \(256 bits\)/);
  assert.match(short.message, /at least 8 characters/);
  assert.doesNotMatch(short.message, /xxxxxxx|seven77/, 'values are not echoed');
  // Bytes for the key (UTF-8), characters for the password.
  assert.equal(loadConfig({ env: { MYCEL_API_KEY: 'é'.repeat(16) } }).realtime.apiKey, 'é'.repeat(16));
  assert.equal(loadConfig({ env: { MYCEL_OWNER_PASSWORD: 'éééééééé' } }).owner.password, 'éééééééé');
  expectError('CONFIG_INVALID', () => loadConfig({ env: { MYCEL_OWNER_PASSWORD: '🔑'.repeat(7) } }));
});

test('a postgres URL of the wrong form is a config error that does not echo it', () => {
  const bad = [
    'postgres://me:p#w@db/x',
    'postgres:///mycel',
    'postgres://db/a/b',
    'postgres://db/x?sslmode=requir',
  ];
  for (const url of bad) {
    const err = expectError('CONFIG_INVALID', () => loadConfig({ env: { MYCEL_DATABASE_URL: url } }));
    assert.deepEqual(issuesOf(err).map((i) => i.key), ['database.url'], url);
    assert.ok(!err.message.includes(url), `${url} is echoed: ${err.message}`);
  }
  for (const url of ['postgres://me:p%23w@db:5432/x?sslmode=require', 'postgresql:///mycel?host=/var/run/postgresql', 'postgres://db']) {
    assert.equal(loadConfig({ env: { MYCEL_DATABASE_URL: url } }).database.url, url);
  }
});

test('the data dir is MYCEL_DATA_DIR; the old MYCEL_DB_DIR still works; different values in both are an error', () => {
  assert.equal(loadConfig({ env: { MYCEL_DATA_DIR: '/srv/new' } }).node.dataDir, '/srv/new');
  assert.equal(loadConfig({ env: { MYCEL_DB_DIR: '/srv/old' } }).node.dataDir, '/srv/old');
  assert.equal(loadConfig({ env: { MYCEL_DATA_DIR: '/srv/same', MYCEL_DB_DIR: '/srv/same' } }).node.dataDir, '/srv/same');
  assert.equal(loadConfig({ env: { MYCEL_DATA_DIR: '', MYCEL_DB_DIR: '/srv/old' } }).node.dataDir, '/srv/old', 'empty is unset');
  const err = expectError('CONFIG_INVALID', () => loadConfig({ env: { MYCEL_DATA_DIR: '/srv/a', MYCEL_DB_DIR: '/srv/b' } }));
  assert.deepEqual(issuesOf(err).map((i) => [i.key, i.source]), [['node.dataDir', 'env MYCEL_DATA_DIR']]);
  assert.match(err.message, /MYCEL_DATA_DIR and MYCEL_DB_DIR are both set, to different values; keep only MYCEL_DATA_DIR/);
  assert.equal(loadConfig({ env: { MYCEL_DB_DIR: '/srv/old' }, flags: { dataDir: '/srv/flag' } }).node.dataDir, '/srv/flag');
});
