/**
 * Property tests of the config loader (fast-check): whatever a YAML file holds, loadConfig
 * either returns a deep-frozen config that the schema accepts, or throws one of the three
 * typed config errors, naming a key that the file really has; never any other exception.
 * And a file of valid values, written literally, as `${VAR}` or as `${UNSET:-value}`, loads
 * to exactly those values.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { z } from 'zod';
import { isMycelError } from '../errors.js';
import { CONFIG_KEYS } from './keys.js';
import { loadConfig, type ConfigIssue } from './load.js';
import { configSchema } from './schema.js';
import { schemaAt } from './schema-walk.js';

const dir = mkdtempSync(join(tmpdir(), 'mycel-config-prop-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'mycel.yaml');
// MYCEL_PROPERTY_RUNS raises the case count for a longer search.
const RUNS = Number(process.env.MYCEL_PROPERTY_RUNS ?? 150);

type Doc = Record<string, unknown>;

/** Sets a path with own properties only, so that a `__proto__` key is data, not the prototype. */
function setPath(root: Doc, path: readonly string[], value: unknown): void {
  const define = (o: Doc, k: string, v: unknown): void => void Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  let current = root;
  for (const segment of path.slice(0, -1)) {
    const next = Object.hasOwn(current, segment) ? current[segment] : undefined;
    if (typeof next !== 'object' || next === null || Array.isArray(next)) define(current, segment, {});
    current = current[segment] as Doc;
  }
  define(current, path[path.length - 1]!, value);
}

/** Every dotted path in `value`, inner nodes included (`server`, `server.port`, …). */
function paths(value: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (prefix) out.add(prefix);
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) paths(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

function isDeepFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

const ENV_SET = { MYCEL_PT_A: '8080', MYCEL_PT_B: 'true', MYCEL_PT_C: 'text', MYCEL_PT_EMPTY: '' } as const;

/** Strings that exercise `${…}`: set, unset, defaulted, escaped and malformed references. */
const referenceText = fc.constantFrom(
  '${MYCEL_PT_A}', '${MYCEL_PT_B}', '${MYCEL_PT_C}', '${MYCEL_PT_EMPTY}', '${MYCEL_PT_UNSET}',
  '${MYCEL_PT_UNSET:-42}', '${MYCEL_PT_EMPTY:-x}', 'pre-${MYCEL_PT_C}-post', '$${literal}',
  '${', '${ bad}', '${1X}', '${A:-${B}}', '${MYCEL_PT_A', '$$', '}', '${A:-}',
);
const anyString = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 10 }), referenceText);
const scalar = fc.oneof(anyString, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const anyValue = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), scalar, { maxKeys: 3 }) },
);

const leafPaths = CONFIG_KEYS.map((k) => k.path.split('.'));
const NAMESPACE_FIELDS = ['publish', 'subscribe', 'history', 'presence', 'historySize', 'historyTtlSeconds', 'recovery', 'joinLeave', 'presenceEnabled', 'persist'];
const namespaceName = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,10}$/), fc.string({ maxLength: 6 }));
const anyNamespaces = fc.dictionary(
  namespaceName,
  fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom(...NAMESPACE_FIELDS), fc.string({ maxLength: 6 })), anyValue, { maxKeys: 4 }), anyValue),
  { maxKeys: 3 },
);

/** A document with random values under real keys (most of the time) and unknown keys (sometimes). */
const anyDoc: fc.Arbitrary<Doc> = fc
  .tuple(
    fc.array(fc.tuple(fc.constantFrom(...leafPaths), anyValue), { maxLength: 6 }),
    fc.array(fc.tuple(fc.array(fc.constantFrom('node', 'server', 'realtime', 'publicUrl', 'x', '__proto__', 'constructor'), { minLength: 1, maxLength: 3 }), anyValue), { maxLength: 2 }),
    fc.option(anyNamespaces, { nil: undefined }),
  )
  .map(([known, unknown, namespaces]) => {
    const doc: Doc = {};
    for (const [path, value] of [...known, ...unknown]) setPath(doc, path, value);
    if (namespaces !== undefined) setPath(doc, ['realtime', 'namespaces'], namespaces);
    return doc;
  });

const CONFIG_CODES = new Set(['CONFIG_INVALID', 'CONFIG_ENV_MISSING', 'CONFIG_FILE_UNREADABLE']);

/** Loads `text` as the config file; returns the config or the typed error (anything else throws). */
function load(text: string, env: Record<string, string>): { config?: unknown; error?: { code: string; details: Record<string, unknown> } } {
  writeFileSync(file, text);
  try {
    return { config: loadConfig({ configFile: file, env }) };
  } catch (err) {
    assert.ok(isMycelError(err), `not a typed error: ${err instanceof Error ? err.stack : String(err)}`);
    assert.ok(CONFIG_CODES.has(err.code), `unexpected code ${err.code}`);
    return { error: { code: err.code, details: (err.details ?? {}) as Record<string, unknown> } };
  }
}

/** Unwraps default/optional/prefault to read an integer leaf's range. */
function numberBounds(path: readonly string[]): { min: number; max: number } {
  let schema = schemaAt(configSchema, path) as z.core.$ZodType;
  for (let def = schema._zod.def as { innerType?: z.core.$ZodType }; def.innerType; def = schema._zod.def as { innerType?: z.core.$ZodType }) schema = def.innerType;
  const n = schema as unknown as z.ZodNumber;
  return { min: Math.max(n.minValue ?? 0, -1e9), max: Math.min(n.maxValue ?? 1e9, 1e9) };
}

/** Text without `$` and `}` so it survives as a `${X:-default}` as well. */
const plainText = fc.stringMatching(/^[A-Za-z0-9 ._\/:@-]{1,40}$/).filter((s) => s.trim() === s && s.length > 0);
const hostName = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}(\.[a-z]{2,5})?$/);

/** Token public keys are checked as keys (token-keys.ts); PEM text as it loads (trimmed). */
const rsaPem = (generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string).trim();
const ecPem = (generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string).trim();

/** A value the schema accepts, for each leaf. */
function validValue(path: string): fc.Arbitrary<unknown> {
  const key = CONFIG_KEYS.find((k) => k.path === path)!;
  switch (path) {
    case 'server.host':
    case 'server.publicUrl.host':
      return hostName;
    case 'database.url':
      return fc.constantFrom('sqlite', ':memory:', 'postgres://mycel:pw@db.example:5432/mycel');
    case 'owner.remoteNodeId':
    case 'node.id':
      return fc.uuid({ version: 7 });
    case 'node.name':
      return plainText;
    // Secrets have minimums (secret-rules.ts): an HS256 key of 32 bytes, an owner password of 8 characters.
    case 'realtime.apiKey':
      return fc.stringMatching(/^[A-Za-z0-9._-]{32,48}$/);
    case 'owner.password':
    case 'owner.remoteNodePassword':
      return fc.stringMatching(/^[A-Za-z0-9._-]{8,24}$/);
    case 'realtime.tokenRsaPublicKey':
      return fc.constant(rsaPem);
    case 'realtime.tokenEcdsaPublicKey':
      return fc.constant(ecPem);
    case 'realtime.tokenJwksUrl':
      return fc.constantFrom('https://auth.example/.well-known/jwks.json', 'http://127.0.0.1:8080/jwks');
    case 'blobs.authGroup':
      return fc.stringMatching(/^[a-z_][a-z0-9_-]{0,15}$/);
    case 'compute.join.url':
      return fc.constantFrom('http://127.0.0.1:1456', 'https://aggregator.example');
    case 'compute.projects':
      return fc.array(fc.record({ name: fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/), token: fc.stringMatching(/^[A-Za-z0-9]{1,24}$/) }).map((r) => ({ ...r })), { maxLength: 2 });
    case 'compute.datasources':
      return fc.array(
        fc.record({ name: fc.stringMatching(/^[A-Za-z0-9_.-]{1,12}$/), kind: fc.constant('file'), type: fc.constantFrom('csv', 'tsv', 'parquet'), path: fc.constantFrom('/data/a.csv', './b.tsv'), tokens: fc.array(fc.stringMatching(/^[A-Za-z0-9]{1,12}$/), { minLength: 1, maxLength: 2 }) }).map((r) => ({ ...r })),
        { maxLength: 2 },
      );
  }
  switch (key.type?.kind) {
    case 'integer': {
      const { min, max } = numberBounds(path.split('.'));
      return fc.integer({ min, max });
    }
    case 'number':
      // Seconds (compute.*Seconds): positive, written with a fraction or without.
      return fc.oneof(fc.integer({ min: 1, max: 3600 }), fc.double({ min: 0.5, max: 3600, noNaN: true }));
    case 'boolean':
      return fc.boolean();
    case 'enum':
      return fc.constantFrom(...key.type.values);
    case 'list':
      // Origins (server.corsOrigins), the only list so far; an array is always written literally.
      return fc.array(fc.constantFrom('*', 'https://app.example', 'http://localhost:3000', 'http://127.0.0.1:8080'), { maxLength: 3 });
    case 'objects':
      // network.servers (compute's lists have their own cases above).
      return fc.array(fc.record({ url: fc.constantFrom('http://127.0.0.1:5103', 'https://parent.example'), password: fc.stringMatching(/^[A-Za-z0-9]{1,12}$/), role: fc.constantFrom('child', 'parent', 'both'), transport: fc.constantFrom('auto', 'websocket', 'sse') }).map((r) => ({ ...r })), { maxLength: 2 });
    case 'map':
      return fc.dictionary(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,10}$/).filter((s) => s !== '__proto__'),
        fc.record({ publish: fc.constantFrom('none', 'owner', 'user', 'anonymous'), historySize: fc.integer({ min: 0, max: 1_000_000 }), persist: fc.boolean() }, { requiredKeys: [] }),
        { maxKeys: 3 },
      );
    default:
      return plainText;
  }
}

/** How a scalar is written in the file: literally, through a set variable, or as a default. */
type Spelling = 'literal' | 'variable' | 'default';

describe('loadConfig properties', () => {
  it('any YAML document gives a frozen valid config or a typed config error naming a key of the file', () => {
    fc.assert(
      fc.property(anyDoc, (doc) => {
        const result = load(stringify(doc), { ...ENV_SET });
        if (result.config !== undefined) {
          assert.ok(isDeepFrozen(result.config), 'the config is not deep-frozen');
          assert.ok(configSchema.safeParse(result.config).success, 'the schema refuses the loaded config');
          return;
        }
        const { code, details } = result.error!;
        const inFile = paths(doc);
        if (code === 'CONFIG_INVALID') {
          const issues = details.issues as ConfigIssue[];
          assert.ok(issues.length > 0, 'CONFIG_INVALID without issues');
          for (const issue of issues) {
            assert.ok(issue.key === '(top level)' || inFile.has(issue.key), `issue names ${issue.key}, which the file does not have`);
            assert.equal(issue.source, issue.key === '(top level)' ? issue.source : `file ${file}`);
            assert.equal(typeof issue.message, 'string');
          }
        } else if (code === 'CONFIG_ENV_MISSING') {
          assert.ok(inFile.has(details.key as string), `CONFIG_ENV_MISSING names ${String(details.key)}`);
          assert.equal((ENV_SET as Record<string, string>)[details.variable as string], undefined);
        } else {
          assert.fail(`a document written by the YAML library is unreadable: ${JSON.stringify(details)}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('any text gives a config or a typed config error, never another exception', () => {
    const yamlish = fc.array(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(': ', '\n', '  ', '- ', '&a ', '*a', '!!', '{', '[', '"', "'", '#', 'server:\n  port: ', '${X}', '<<: *a\n')), { maxLength: 25 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(yamlish, fc.string({ unit: 'binary', maxLength: 200 })), (text) => {
        load(text, {});
      }),
      { numRuns: RUNS },
    );
  });

  it('valid values load unchanged whether written literally, as ${VAR} or as ${UNSET:-value}', () => {
    const entry = fc.constantFrom(...CONFIG_KEYS.map((k) => k.path)).chain((path) =>
      fc.tuple(fc.constant(path), validValue(path), fc.constantFrom<Spelling>('literal', 'variable', 'default')),
    );
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: ([path]) => path, maxLength: 8 }), (entries) => {
        const doc: Doc = {};
        const env: Record<string, string> = {};
        entries.forEach(([path, value, spelling], i) => {
          const written = typeof value === 'object' || spelling === 'literal'
            ? value
            : spelling === 'variable'
              ? ((env[`MYCEL_PT_${i}`] = String(value)), `\${MYCEL_PT_${i}}`)
              : `\${MYCEL_PT_UNSET_${i}:-${String(value)}}`;
          setPath(doc, path.split('.'), written);
        });
        const result = load(stringify(doc), env);
        assert.equal(result.error, undefined, `refused: ${JSON.stringify(result.error)} for ${stringify(doc)}`);
        const config = result.config as Doc;
        for (const [path, value] of entries) {
          const got = path.split('.').reduce<unknown>((o, s) => (o as Doc)[s], config);
          if (path === 'realtime.namespaces') {
            for (const [name, options] of Object.entries(value as Doc)) {
              for (const [field, v] of Object.entries(options as Doc)) assert.deepEqual((got as Doc)[name]![field as never], v);
            }
          } else {
            assert.deepEqual(got, value, path);
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});
