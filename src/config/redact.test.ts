import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from './load.js';
import { REDACTED, redactConfig, redactUrl } from './redact.js';
import { configSchema } from './schema.js';

test('redactUrl hides the password and keeps the rest', () => {
  const cases: [string, string][] = [
    ['postgres://mycel:s3cret@db:5432/mycel', 'postgres://mycel:[redacted]@db:5432/mycel'],
    ['postgresql://mycel:p%40ss%2Fw@db/x?sslmode=require', 'postgresql://mycel:[redacted]@db/x?sslmode=require'],
    ['postgres://mycel:p@ss/w@db/x', 'postgres://mycel:[redacted]@db/x'],
    ['redis://:s3cret@127.0.0.1:6379/0', 'redis://:[redacted]@127.0.0.1:6379/0'],
    ['rediss://default:s3cret@cache:6380', 'rediss://default:[redacted]@cache:6380'],
    ['postgres://db/x?user=me&password=s3cret&sslmode=require', 'postgres://db/x?user=me&password=[redacted]&sslmode=require'],
    ['postgres://me@db/x', 'postgres://me@db/x'],
    ['postgres://db/x', 'postgres://db/x'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
    ['sqlite', 'sqlite'],
    [':memory:', ':memory:'],
  ];
  for (const [input, expected] of cases) assert.equal(redactUrl(input), expected, input);
});

test('redactConfig replaces every secret and URL password, and nothing else', () => {
  const config = loadConfig({
    env: {
      MYCEL_OWNER_PASSWORD: 'owner-secret-1',
      MYCEL_OWNER_REMOTE_NODE_ID: '0190f5a0-0000-7000-8000-000000000001',
      MYCEL_OWNER_REMOTE_NODE_PASSWORD: 'remote-secret-2',
      MYCEL_API_KEY: 'api-secret-3-0123456789abcdef0123456789',
      MYCEL_DATABASE_URL: 'postgres://mycel:db-secret-4@127.0.0.1:5432/mycel',
      MYCEL_REDIS_URL: 'redis://:redis-secret-5@127.0.0.1:6379',
      MYCEL_NODE_NAME: 'visible-name',
    },
  });
  const shown = redactConfig(config);
  assert.equal(shown.owner.password, REDACTED);
  assert.equal(shown.owner.remoteNodePassword, REDACTED);
  assert.equal(shown.realtime.apiKey, REDACTED);
  assert.equal(shown.database.url, 'postgres://mycel:[redacted]@127.0.0.1:5432/mycel');
  assert.equal(shown.realtime.redisUrl, 'redis://:[redacted]@127.0.0.1:6379');
  assert.equal(shown.owner.remoteNodeId, '0190f5a0-0000-7000-8000-000000000001');
  assert.equal(shown.node.name, 'visible-name');
  const text = JSON.stringify(shown);
  for (const n of [1, 2, 3, 4, 5]) assert.doesNotMatch(text, new RegExp(`secret-${n}`));

  // Same shape otherwise.
  const withoutSecrets = (c: typeof config) => ({
    ...c,
    owner: { remoteNodeId: c.owner.remoteNodeId },
    database: {},
    realtime: { ...c.realtime, apiKey: undefined, redisUrl: undefined },
  });
  assert.deepEqual(withoutSecrets(shown), withoutSecrets(config));
});

test('unset secrets stay unset (not "[redacted]")', () => {
  const shown = redactConfig(loadConfig({ env: {} }));
  assert.equal(shown.owner.password, undefined);
  assert.equal(shown.realtime.apiKey, undefined);
  assert.equal(shown.database.url, 'sqlite');
});

test('the redacted copy is frozen and the original keeps its secrets', () => {
  const config = loadConfig({ env: { MYCEL_OWNER_PASSWORD: 'keep-me-please' } });
  const shown = redactConfig(config);
  assert.notEqual(shown, config);
  assert.ok(Object.isFrozen(shown) && Object.isFrozen(shown.owner) && Object.isFrozen(shown.realtime.channel));
  assert.equal(config.owner.password, 'keep-me-please');
});

test('the password of each network.servers entry is redacted, the rest of the entry kept', () => {
  const config = configSchema.parse({ network: { servers: [{ url: 'https://parent.example', password: 's3cret-node-pw', role: 'both' }] } });
  const shown = redactConfig(config);
  assert.deepEqual(shown.network.servers, [{ url: 'https://parent.example', password: REDACTED, role: 'both', transport: 'auto' }]);
  assert.equal(config.network.servers[0]!.password, 's3cret-node-pw');
  assert.ok(!JSON.stringify(shown).includes('s3cret-node-pw'));
});
