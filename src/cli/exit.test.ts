import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MycelError } from '../errors.js';
import { EXIT_CONFIG, EXIT_FAILURE, formatCliError } from './exit.js';

test('a config error is one line with its code, and exit code 2', () => {
  const err = new MycelError('CONFIG_ENV_MISSING', { variable: 'X', file: '/f.yaml', key: 'a.b' }, 'Environment variable X is not set but /f.yaml uses it');
  assert.deepEqual(formatCliError(err), {
    lines: ['error CONFIG_ENV_MISSING: Environment variable X is not set but /f.yaml uses it'],
    exitCode: EXIT_CONFIG,
  });
});

test('another MycelError prints its details and cause below the message, exit code 1', () => {
  const err = new MycelError('STORAGE_UNAVAILABLE', { database: 'postgres', attempts: 3 }, undefined, { cause: new Error('connect ECONNREFUSED 127.0.0.1:5432') });
  assert.deepEqual(formatCliError(err), {
    lines: [
      'error STORAGE_UNAVAILABLE: The database cannot be reached',
      '  database: postgres',
      '  attempts: 3',
      '  cause: connect ECONNREFUSED 127.0.0.1:5432',
    ],
    exitCode: EXIT_FAILURE,
  });
});

test('anything else is a short message without a stack, exit code 1', () => {
  assert.deepEqual(formatCliError(new TypeError('x is not a function')), { lines: ['error: x is not a function'], exitCode: 1 });
  assert.deepEqual(formatCliError('plain string'), { lines: ['error: plain string'], exitCode: 1 });
});
