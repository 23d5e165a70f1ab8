import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { CONFIG_KEYS, flagAttribute, formatDefault, type ConfigKey } from './keys.js';
import { configSchema } from './schema.js';
import { leafPaths } from './schema-walk.js';

/** Both directions: schema leaves without a row, and rows without a schema leaf. */
function coverageProblems(schema: z.core.$ZodType, keys: readonly Pick<ConfigKey, 'path'>[]): string[] {
  const leaves = new Set(leafPaths(schema));
  const rows = new Set(keys.map((k) => k.path));
  return [
    ...[...leaves].filter((p) => !rows.has(p)).map((p) => `schema leaf ${p} has no row in keys.ts`),
    ...[...rows].filter((p) => !leaves.has(p)).map((p) => `keys.ts names ${p}, which the schema lacks`),
  ];
}

test('the walk finds the leaves of the schema', () => {
  const leaves = leafPaths(configSchema);
  for (const expected of ['node.dataDir', 'server.publicUrl.port', 'realtime.channel.historySize', 'realtime.namespaces']) {
    assert.ok(leaves.includes(expected), expected);
  }
  assert.ok(!leaves.includes('server'), 'sections are not leaves');
  assert.ok(!leaves.includes('server.publicUrl'), 'nested sections are not leaves');
});

test('every schema leaf has exactly one row in the key table, and every row is a schema leaf', () => {
  assert.deepEqual(coverageProblems(configSchema, CONFIG_KEYS), []);
  const paths = CONFIG_KEYS.map((k) => k.path);
  assert.equal(new Set(paths).size, paths.length, 'no path twice');
});

test('the coverage check catches a new schema leaf and a stale row', () => {
  const grown = configSchema.extend({ extra: z.object({ knob: z.number().default(1) }).prefault({}) });
  assert.deepEqual(coverageProblems(grown, CONFIG_KEYS), ['schema leaf extra.knob has no row in keys.ts']);
  assert.deepEqual(coverageProblems(configSchema, [...CONFIG_KEYS, { path: 'server.gone' }]), [
    'keys.ts names server.gone, which the schema lacks',
  ]);
});

test('environment names are unique MYCEL_* names, and the ones the issue fixes are as specified', () => {
  const envs = CONFIG_KEYS.flatMap((k) => (k.env === null ? [] : [k.env, ...k.envAliases]));
  assert.equal(new Set(envs).size, envs.length, 'no env name twice, aliases included');
  for (const env of envs) assert.match(env, /^MYCEL_[A-Z0-9_]+$/);
  const byPath = Object.fromEntries(CONFIG_KEYS.map((k) => [k.path, k.env]));
  assert.deepEqual(
    {
      dataDir: byPath['node.dataDir'],
      name: byPath['node.name'],
      password: byPath['owner.password'],
      remoteId: byPath['owner.remoteNodeId'],
      remotePassword: byPath['owner.remoteNodePassword'],
      host: byPath['server.host'],
      port: byPath['server.port'],
      scheme: byPath['server.publicUrl.scheme'],
      urlHost: byPath['server.publicUrl.host'],
      urlPort: byPath['server.publicUrl.port'],
      session: byPath['server.sessionMinutes'],
      body: byPath['server.bodyLimit'],
      db: byPath['database.url'],
      log: byPath['log.level'],
      apiKey: byPath['realtime.apiKey'],
      redis: byPath['realtime.redisUrl'],
      namespaces: byPath['realtime.namespaces'],
    },
    {
      dataDir: 'MYCEL_DATA_DIR',
      name: 'MYCEL_NODE_NAME',
      password: 'MYCEL_OWNER_PASSWORD',
      remoteId: 'MYCEL_OWNER_REMOTE_NODE_ID',
      remotePassword: 'MYCEL_OWNER_REMOTE_NODE_PASSWORD',
      host: 'MYCEL_HOST',
      port: 'MYCEL_PORT',
      scheme: 'MYCEL_URL_SCHEME',
      urlHost: 'MYCEL_URL_HOST',
      urlPort: 'MYCEL_URL_PORT',
      session: 'MYCEL_SESSION_MINUTES',
      body: 'MYCEL_BODY_LIMIT',
      db: 'MYCEL_DATABASE_URL',
      log: 'MYCEL_LOG_LEVEL',
      apiKey: 'MYCEL_API_KEY',
      redis: 'MYCEL_REDIS_URL',
      namespaces: null,
    },
  );
});

test('only the namespace map and the lists of objects are YAML-only, and they say so', () => {
  const yamlOnly = CONFIG_KEYS.filter((k) => k.env === null);
  assert.deepEqual(yamlOnly.map((k) => k.path).sort(), ['compute.datasources', 'compute.projects', 'network.servers', 'realtime.namespaces']);
  for (const key of yamlOnly) assert.match(key.meaning, /YAML only/);
});

test('the serve flags map to their keys and commander attribute names', () => {
  const flags = Object.fromEntries(CONFIG_KEYS.filter((k) => k.flag).map((k) => [flagAttribute(k), k.path]));
  assert.deepEqual(flags, {
    dataDir: 'node.dataDir',
    nodeName: 'node.name',
    host: 'server.host',
    port: 'server.port',
    databaseUrl: 'database.url',
    logLevel: 'log.level',
    storageDir: 'blobs.dir',
    authGroup: 'blobs.authGroup',
  });
});

test('secrets are the passwords and the API key; URLs with credentials are marked', () => {
  assert.deepEqual(CONFIG_KEYS.filter((k) => k.secret).map((k) => k.path), [
    'owner.password',
    'owner.remoteNodePassword',
    'compute.join.invitation',
    'realtime.apiKey',
  ]);
  assert.deepEqual(CONFIG_KEYS.filter((k) => k.urlCredentials).map((k) => k.path), ['database.url', 'realtime.redisUrl']);
});

test('types and defaults come from the schema', () => {
  const port = CONFIG_KEYS.find((k) => k.path === 'server.port')!;
  assert.deepEqual(port.type, { kind: 'integer' });
  assert.equal(port.default, 5103);
  assert.equal(formatDefault(port), '`5103`');
  const level = CONFIG_KEYS.find((k) => k.path === 'log.level')!;
  assert.equal(level.type?.kind, 'enum');
  assert.equal(level.default, 'info');
  const name = CONFIG_KEYS.find((k) => k.path === 'node.name')!;
  assert.equal(name.default, undefined);
  assert.equal(formatDefault(name), 'the host name');
  for (const key of CONFIG_KEYS) {
    assert.ok(key.type, `${key.path} has a type`);
    assert.ok(key.meaning.length > 10, `${key.path} has a meaning`);
  }
});
