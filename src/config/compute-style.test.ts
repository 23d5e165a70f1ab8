import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MycelError } from '../errors.js';
import { databaseKind, loadConfig, publicUrl, type ConfigIssue } from './load.js';
import { REDACTED, redactConfig } from './redact.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-compute-style-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function yamlFile(text: string): string {
  const path = join(dir, `node-${++fileCount}.yaml`);
  writeFileSync(path, text);
  return path;
}

function issuesOf(fn: () => unknown): ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MycelError, String(err));
    assert.equal(err.code, 'CONFIG_INVALID', err.message);
    return (err.details as { issues: ConfigIssue[] }).issues;
  }
  assert.fail('expected CONFIG_INVALID');
}

/** A compute-style node file as such users write it, unchanged (also started for real in test/e2e/compute-config.test.ts). */
const EXAMPLE_NODE_YAML = readFileSync(new URL('../../test/fixtures/compute-node.yaml', import.meta.url), 'utf8');

const TOKEN = 'project-token-0123456789abcdef';

test('the compute-style example loads unchanged: each key is the Mycel setting it names', () => {
  const config = loadConfig({ configFile: yamlFile(EXAMPLE_NODE_YAML), env: { PROJECT_TOKEN: TOKEN } });
  assert.equal(config.node.dataDir, './storage');
  assert.equal(config.node.name, 'aggregator');
  assert.equal(config.server.host, '0.0.0.0');
  assert.equal(config.server.port, 1456);
  assert.equal(config.server.publicUrl.scheme, 'http');
  assert.equal(config.server.publicUrl.host, undefined, 'url: "" is not set');
  assert.equal(config.database.url, 'sqlite:./sqlite.db');
  assert.equal(databaseKind(config), 'sqlite');
  assert.deepEqual(config.compute, {
    mode: 'node',
    heartbeatSeconds: 10,
    roundTimeoutSeconds: 3600,
    healthcheckSeconds: 3600,
    allowResourceDownload: true,
    projects: [{ name: 'my_project', token: TOKEN }],
    join: { first: true },
    datasources: [{ name: 'iris', kind: 'file', type: 'csv', path: '/data/iris.csv', tokens: [TOKEN] }],
  });
});

test('project tokens are secrets: redacted wherever the config is shown', () => {
  const config = loadConfig({ configFile: yamlFile(EXAMPLE_NODE_YAML), env: { PROJECT_TOKEN: TOKEN } });
  const shown = redactConfig(config);
  assert.equal(shown.compute.projects[0]!.token, REDACTED);
  assert.deepEqual(shown.compute.datasources[0]!.tokens, [REDACTED]);
  assert.ok(!JSON.stringify(shown).includes(TOKEN));
});

test('a compute-style file without a database section runs in memory; Mycel files keep SQLite; the environment still wins', () => {
  const file = yamlFile('mode: client\njoin:\n  url: http://127.0.0.1:1456\n');
  assert.equal(loadConfig({ configFile: file, env: {} }).database.url, ':memory:');
  assert.equal(loadConfig({ configFile: file, env: { MYCEL_DATABASE_URL: 'sqlite' } }).database.url, 'sqlite');
  assert.equal(loadConfig({ configFile: yamlFile('server:\n  port: 4000\n'), env: {} }).database.url, 'sqlite');
  assert.equal(loadConfig({ configFile: yamlFile('node:\n  port: 1456\n'), env: { MYCEL_PORT: '7000' } }).server.port, 7000);
});

test('database: memory, a PostgreSQL server with credentials, and a bad dialect', () => {
  assert.equal(loadConfig({ configFile: yamlFile('database:\n  memory: true\n  dialect: sqlite\n'), env: {} }).database.url, ':memory:');
  const pg = loadConfig({
    configFile: yamlFile('database:\n  dialect: postgresql\n  username: mycel\n  password: ${DB_PASSWORD}\n  host: 127.0.0.1\n  port: 5432\n  scheme: test\n'),
    env: { DB_PASSWORD: 'p@ss/w:rd' },
  });
  assert.equal(pg.database.url, 'postgresql://mycel:p%40ss%2Fw%3Ard@127.0.0.1:5432/test');
  assert.equal(databaseKind(pg), 'postgres');
  assert.equal(redactConfig(pg).database.url, 'postgresql://mycel:[redacted]@127.0.0.1:5432/test');
  const bad = issuesOf(() => loadConfig({ configFile: yamlFile('database:\n  dialect: mysql\n'), env: {} }));
  assert.deepEqual(bad.map((i) => i.key), ['database.dialect']);
  const noHost = issuesOf(() => loadConfig({ configFile: yamlFile('database:\n  dialect: postgresql\n'), env: {} }));
  assert.deepEqual(noHost.map((i) => i.key), ['database.host']);
  const both = issuesOf(() => loadConfig({ configFile: yamlFile('database:\n  url: sqlite\n  dialect: sqlite\n'), env: {} }));
  assert.deepEqual(both.map((i) => i.key), ['database.url']);
});

test('the schema stays strict: a typo is an error naming the key as written', () => {
  const typo = issuesOf(() => loadConfig({ configFile: yamlFile('mode: node\nnode:\n  heartbaet: 10\n'), env: {} }));
  assert.deepEqual(typo.map((i) => i.key), ['node.heartbaet']);
  assert.match(typo[0]!.message, /unknown key/);
  const badMode = issuesOf(() => loadConfig({ configFile: yamlFile('mode: nodes\n'), env: {} }));
  assert.equal(badMode[0]!.key, 'compute.mode');
  assert.match(badMode[0]!.source, /written as mode/);
  const badSource = issuesOf(() => loadConfig({ configFile: yamlFile('datasources:\n  - name: iris\n    type: xlsx\n    path: /x\n    token: t\n'), env: {} }));
  assert.equal(badSource[0]!.key, 'compute.datasources.0.type');
  assert.match(badSource[0]!.source, /written as datasources\.0\.type/);
});

test('a setting given both ways is refused, not merged', () => {
  const issues = issuesOf(() => loadConfig({ configFile: yamlFile('node:\n  port: 1456\nserver:\n  port: 5103\n'), env: {} }));
  assert.deepEqual(issues.map((i) => i.key), ['node.port']);
  assert.match(issues[0]!.message, /server\.port/);
});

test('interpolated values take the type of the setting they become; a bad one names the key as written', () => {
  const file = yamlFile('node:\n  port: ${PORT}\n  heartbeat: ${HB}\n');
  const config = loadConfig({ configFile: file, env: { PORT: '1456', HB: '2.5' } });
  assert.equal(config.server.port, 1456);
  assert.equal(config.compute.heartbeatSeconds, 2.5);
  const issues = issuesOf(() => loadConfig({ configFile: file, env: { PORT: 'eighty', HB: '1' } }));
  assert.equal(issues[0]!.key, 'server.port');
  assert.match(issues[0]!.source, /written as node\.port/);
});

test('node.url: a host, or a whole URL that also sets the scheme and port', () => {
  const host = loadConfig({ configFile: yamlFile('node:\n  url: lab.example.org\n  port: 1456\n'), env: {} });
  assert.equal(publicUrl(host), 'http://lab.example.org:1456');
  const whole = loadConfig({ configFile: yamlFile('node:\n  url: https://lab.example.org:8443\n'), env: {} });
  assert.equal(publicUrl(whole), 'https://lab.example.org:8443');
  const clash = issuesOf(() => loadConfig({ configFile: yamlFile('node:\n  protocol: http\n  url: https://lab.example.org\n'), env: {} }));
  assert.deepEqual(clash.map((i) => i.key), ['node.url']);
});

test('a datasource written with one token, and `sqlite:<file>` as database.url', () => {
  const config = loadConfig({ configFile: yamlFile('datasources:\n  - name: a\n    type: tsv\n    path: /d/a.tsv\n    token: tok\n'), env: {} });
  assert.deepEqual(config.compute.datasources[0]!.tokens, ['tok']);
  assert.equal(loadConfig({ env: { MYCEL_DATABASE_URL: 'sqlite:/var/lib/mycel/x.db' } }).database.url, 'sqlite:/var/lib/mycel/x.db');
  assert.deepEqual(issuesOf(() => loadConfig({ env: { MYCEL_DATABASE_URL: 'sqlite:' } })).map((i) => i.key), ['database.url']);
});
