// A list setting (server.corsOrigins) from YAML, from a comma-separated variable, and refused when malformed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MycelError } from '../errors.js';
import { loadConfig } from './load.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-config-list-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('server.corsOrigins: empty by default, a YAML sequence, or comma-separated in MYCEL_CORS_ORIGINS', () => {
  assert.deepEqual(loadConfig({ env: {} }).server.corsOrigins, []);
  const file = join(dir, 'cors.yaml');
  writeFileSync(file, 'server:\n  corsOrigins: ["https://a.example", "http://localhost:3000"]\n');
  assert.deepEqual(loadConfig({ env: {}, configFile: file }).server.corsOrigins, ['https://a.example', 'http://localhost:3000']);
  const fromEnv = loadConfig({ env: { MYCEL_CORS_ORIGINS: ' https://b.example ,http://127.0.0.1:8080,, ' }, configFile: file });
  assert.deepEqual(fromEnv.server.corsOrigins, ['https://b.example', 'http://127.0.0.1:8080'], 'the variable wins over the file');
  assert.deepEqual(loadConfig({ env: { MYCEL_CORS_ORIGINS: '*' } }).server.corsOrigins, ['*']);
  assert.ok(Object.isFrozen(fromEnv.server.corsOrigins));
});

test('server.corsOrigins: an origin with a path, or no scheme, is a config error naming the key', () => {
  for (const bad of ['https://a.example/app', 'a.example', 'ftp://a.example']) {
    assert.throws(
      () => loadConfig({ env: { MYCEL_CORS_ORIGINS: bad } }),
      (err: unknown) =>
        err instanceof MycelError &&
        err.code === 'CONFIG_INVALID' &&
        (err.details as { issues: { key: string; message: string }[] }).issues.some((i) => i.key === 'server.corsOrigins' && i.message.startsWith('item 1: ')),
      bad,
    );
  }
});
