// A compute-style configuration file, as its users write it, starts a node unchanged
// (`mycel serve --config node.yaml`): its relative paths start at the working directory, its
// SQLite file is the one `database.host` names, and its project token never reaches the log.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runMycel, startMycel } from '../helpers/process.js';

const fixture = fileURLToPath(new URL('../fixtures/compute-node.yaml', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mycel-compute-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const TOKEN = 'project-token-5f0c2d1e9a8b7c6d';

test('the compute-style example file starts a node', async () => {
  copyFileSync(fixture, join(dir, 'node.yaml'));
  // The file binds 0.0.0.0:1456; the test keeps to loopback and a free port (flags and
  // variables win over the file, as everywhere).
  const node = await startMycel({ PROJECT_TOKEN: TOKEN, MYCEL_HOST: '127.0.0.1' }, ['--config', 'node.yaml'], 30_000, [], dir);
  try {
    const profile = (await (await fetch(`${node.url}/api/v1/node`)).json()) as { name: string };
    assert.equal(profile.name, 'aggregator', 'node.name');
    assert.ok(existsSync(join(dir, 'sqlite.db')), 'database.host ./sqlite.db is the database file, in the working directory');
    assert.ok(existsSync(join(dir, 'storage')), 'workdir ./storage is the data directory');
    const running = node.lines.find((line) => line.includes('federated compute running'));
    assert.ok(running, 'serve says federated compute runs');
    assert.ok(!node.lines.some((line) => line.includes(TOKEN)), 'the project token is not logged');
  } finally {
    const stopped = await node.stop();
    assert.equal(stopped.code, 0);
  }
});

test('`mycel config` shows what the file became, tokens redacted', async () => {
  const shown = await runMycel(['config', '--config', join(dir, 'node.yaml')], { PROJECT_TOKEN: TOKEN });
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /mode: node/);
  assert.match(shown.stdout, /port: 1456/);
  assert.match(shown.stdout, /url: sqlite:\.\/sqlite\.db/);
  assert.ok(!shown.stdout.includes(TOKEN), 'the token is redacted');
});

test('a further node (join.first false, join.url) needs an invitation on its first start; first and url together are refused', async () => {
  const write = (name: string, joinLines: string[]): string => {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(path, ['workdir: ./' + name, 'mode: node', 'node:', '  name: ' + name, 'join:', ...joinLines, ''].join('\n'));
    return path;
  };
  const env = { MYCEL_OWNER_PASSWORD: 'owner-password-compute-join', MYCEL_HOST: '127.0.0.1', MYCEL_PORT: '0' };
  const noInvitation = await runMycel(['serve', '--config', write('further', ['  first: false', '  url: http://127.0.0.1:9/'])], env, 60_000);
  assert.equal(noInvitation.code, 2, noInvitation.stderr); // 2: a configuration error
  assert.match(noInvitation.stderr, /CONFIG_INVALID.*compute\.join\.invitation is needed for the first start of a node joining http:\/\/127\.0\.0\.1:9/);
  const both = await runMycel(['serve', '--config', write('both', ['  first: true', '  url: http://127.0.0.1:9/'])], env, 60_000);
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /CONFIG_INVALID.*compute\.join\.first starts a network and compute\.join\.url joins one/);
});
