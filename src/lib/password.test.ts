import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashPassword, verifyPassword } from './password.js';

test('a hashed password verifies and another does not', async () => {
  const stored = await hashPassword('correct horse');
  assert.match(stored, /^scrypt\$32768\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
  assert.equal(await verifyPassword('correct horse', stored), true);
  assert.equal(await verifyPassword('correct horse ', stored), false);
});

test('the same password gets a new salt each time', async () => {
  assert.notEqual(await hashPassword('pw'), await hashPassword('pw'));
});

test('a malformed stored hash never verifies', async () => {
  for (const bad of ['', 'plain', 'scrypt$1$2$3', 'bcrypt$1$2$3$4$5', 'scrypt$x$8$1$AA$AA']) {
    assert.equal(await verifyPassword('pw', bad), false, bad);
  }
});
