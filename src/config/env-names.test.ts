import assert from 'node:assert/strict';
import { test } from 'node:test';
import { unknownEnvVariables, unknownEnvWarnings } from './env-names.js';

test('an unknown MYCEL_* variable is reported with the closest known name', () => {
  assert.deepEqual(unknownEnvVariables({ MYCEL_PROT: '8080', MYCEL_DATADIR: '/x', MYCEL_OWNER_PASWORD: 'p', MYCEL_DB_DIRR: '/y' }), [
    { name: 'MYCEL_DATADIR', closest: 'MYCEL_DATA_DIR' },
    // An old name that is still read is suggested as its current name.
    { name: 'MYCEL_DB_DIRR', closest: 'MYCEL_DATA_DIR' },
    { name: 'MYCEL_OWNER_PASWORD', closest: 'MYCEL_OWNER_PASSWORD' },
    { name: 'MYCEL_PROT', closest: 'MYCEL_PORT' },
  ]);
  assert.deepEqual(unknownEnvWarnings({ MYCEL_PROT: '8080' }), [
    'warning: MYCEL_PROT is not a Mycel setting and is ignored; did you mean MYCEL_PORT? (every variable: docs/config.md)',
  ]);
});

test('settings, their old names, MYCEL_CONFIG, MYCEL_TEST_* and other variables are not reported', () => {
  const env = {
    MYCEL_PORT: '1',
    MYCEL_DATA_DIR: '/a',
    MYCEL_DB_DIR: '/a',
    MYCEL_CONFIG: 'm.yaml',
    MYCEL_NODE_URL: 'http://127.0.0.1:5103',
    MYCEL_NODE_PASSWORD: 'node-pw',
    MYCEL_TEST_DATABASE_URL: 'postgres://x',
    MYCEL_TEST_CONCURRENCY: '1',
    PATH: '/bin',
    mycel_port: 'lower case is another variable',
  };
  assert.deepEqual(unknownEnvVariables(env), []);
});
