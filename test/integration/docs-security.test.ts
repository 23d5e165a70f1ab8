/**
 * docs/security.md's table of limits is held to the code: every setting it names is a real
 * config key whose default the row states, every limit-like config key has a row, and the
 * fixed content limits appear with their values.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIG_KEYS } from '../../src/config/keys.js';
import { LIMITS } from '../../src/domain/validation.js';

const doc = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
const limits = doc.slice(doc.indexOf('## Limits'));
const rows = limits.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Limit') && !l.startsWith('| ---'));
const cells = rows.map((r) => r.split(' | ').map((c) => c.replace(/^\| |\s\|$/g, '')));

/** Settings of the node that bound what a client can make it do. */
const LIMIT_KEYS = [
  'server.bodyLimit',
  'server.loginAttemptsPerMinute',
  'server.sessionMinutes',
  'server.shutdownGraceSeconds',
  'server.headersTimeoutMs',
  'server.requestTimeoutMs',
  'server.maxPendingConnectionsPerAddress',
  'realtime.apiKeyFailuresPerMinute',
  'realtime.maxMessageBytes',
  'realtime.maxCommandsPerSecond',
  'realtime.maxSubscriptionsPerConnection',
  'realtime.maxQueuedBytes',
  'realtime.pingIntervalSeconds',
  'realtime.pongTimeoutSeconds',
  'realtime.presenceTtlSeconds',
  'realtime.recoveryWindowSeconds',
];

const withCommas = (n: number): string => n.toLocaleString('en-US');
const UNITS: Record<string, number> = { KiB: 1024, MiB: 1024 * 1024 };

/** Whether a Default cell says `value`: as written (1440 or 1,440) or in KiB/MiB. */
function statesDefault(cell: string, value: number): boolean {
  const numbers = [...cell.matchAll(/(\d[\d,]*(?:\.\d+)?)(?: (KiB|MiB))?/g)].map(([, n, unit]) => Number(n!.replace(/,/g, '')) * (unit ? UNITS[unit]! : 1));
  return numbers.includes(value);
}

test('docs/security.md has a limits table', () => {
  assert.ok(rows.length >= 20, `found ${rows.length} rows`);
});

test('every setting in the limits table is a config key, and its row states its default', () => {
  for (const [limit, setting, byDefault] of cells) {
    for (const [, path] of setting!.matchAll(/`((?:server|realtime)\.[A-Za-z.]+)`/g)) {
      const key = CONFIG_KEYS.find((k) => k.path === path);
      assert.ok(key, `${limit}: ${path} is not a config key`);
      if (typeof key.default === 'number' && !setting!.includes('/')) {
        assert.ok(statesDefault(byDefault!, key.default), `${limit}: default of ${path} is ${key.default}, the row says "${byDefault}"`);
      }
    }
  }
});

test('every limit-like config key has a row', () => {
  const missing = LIMIT_KEYS.filter((path) => !cells.some(([, setting]) => setting!.includes(`\`${path}\``)));
  assert.deepEqual(missing, []);
  for (const path of LIMIT_KEYS) assert.ok(CONFIG_KEYS.some((k) => k.path === path), `${path} is no longer a config key`);
});

test('the fixed content limits appear with their values', () => {
  const fixed = [LIMITS.channelNameChars, LIMITS.descriptionChars, LIMITS.postBodyChars, LIMITS.metaJsonChars, LIMITS.blobRefs, LIMITS.labelChars, LIMITS.pageSize.max];
  for (const n of fixed) assert.ok(limits.includes(withCommas(n)) || limits.includes(String(n)), `${n} is not in the limits table`);
});
