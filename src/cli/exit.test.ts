import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_CODES, MycelError, type ErrorCode } from '../errors.js';
import { EXIT_CONFIG, EXIT_FAILURE, formatCliError } from './exit.js';
import { INTERNAL_HINT } from './hints.js';

test('a config error is one line with its code, and exit code 2', () => {
  const err = new MycelError('CONFIG_ENV_MISSING', { variable: 'X', file: '/f.yaml', key: 'a.b' }, 'Environment variable X is not set but /f.yaml uses it');
  assert.deepEqual(formatCliError(err), {
    lines: [
      'error CONFIG_ENV_MISSING: Environment variable X is not set but /f.yaml uses it',
      'hint: set X, or give it a default in the file: ${NAME:-default}',
    ],
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
      'hint: check database.url (MYCEL_DATABASE_URL, --database-url) and that the database server runs and is reachable; for SQLite, that the data directory is writable',
    ],
    exitCode: EXIT_FAILURE,
  });
});

test('anything else is INTERNAL, without a stack, exit code 1', () => {
  assert.deepEqual(formatCliError(new TypeError('x is not a function')), { lines: ['error INTERNAL: x is not a function', `hint: ${INTERNAL_HINT}`], exitCode: 1 });
  assert.deepEqual(formatCliError('plain string'), { lines: ['error INTERNAL: plain string', `hint: ${INTERNAL_HINT}`], exitCode: 1 });
});

test('every code has a hint line, and the TLS refusal of a server gets its own', () => {
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const { lines } = formatCliError(new MycelError(code));
    assert.match(lines[lines.length - 1]!, /^hint: \S/, code);
  }
  const tls = new MycelError('STORAGE_UNAVAILABLE', { reason: 'The server does not support SSL connections' });
  assert.match(formatCliError(tls).lines.at(-1)!, /does not accept TLS: remove sslmode=require/);
});
