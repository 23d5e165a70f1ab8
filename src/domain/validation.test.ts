import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isMycelError } from '../errors.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { changeHash, GENESIS_HASH, sealChange } from './changelog.js';
import { checkBody, checkDescription, checkLabel, checkMeta } from './validation.js';

/** Runs a validator: its value, or the VALIDATION_FAILED it threw; any other throw fails the property. */
function outcome<T>(fn: () => T): { ok: true; value: T } | { ok: false; field: string } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    assert.ok(isMycelError(err) && err.code === 'VALIDATION_FAILED', `unexpected ${String(err)}`);
    assert.equal(typeof err.details?.field, 'string');
    return { ok: false, field: String(err.details?.field) };
  }
}

const codeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 10 }).map((u) => String.fromCharCode(...u));
const text = fc.oneof(codeUnits, fc.string({ unit: 'grapheme', maxLength: 10 }));

/** JSON-ish values with the hostile cases mixed in: non-finite numbers, hostile strings, deep nests. */
const hostileJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 2 }),
    text,
    fc.constantFrom(Infinity, -Infinity, Number.NaN, -0, 1e308),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(text, tie('value'), { maxKeys: 3 }),
    fc.integer({ min: 60, max: 70 }).map((d) => {
      let v: unknown = 'leaf';
      for (let i = 0; i < d; i++) v = { d: v };
      return v;
    }),
  ),
})).value;

describe('domain validation', () => {
  it('property: text validators return the value unchanged or throw VALIDATION_FAILED; what they accept survives UTF-8', () => {
    fc.assert(
      fc.property(fc.oneof(text, fc.anything()), (input) => {
        for (const check of [checkBody, checkDescription, checkLabel]) {
          const r = outcome(() => check(input));
          if (!r.ok) continue;
          if (input !== undefined) assert.equal(r.value, input);
          assert.equal(Buffer.from(r.value, 'utf8').toString('utf8'), r.value);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('property: meta is accepted or refused with VALIDATION_FAILED; accepted meta hashes as it reads back from stored text', () => {
    fc.assert(
      fc.property(fc.dictionary(text, hostileJson, { maxKeys: 4 }), (meta) => {
        const r = outcome(() => checkMeta(meta));
        if (!r.ok) {
          assert.match(r.field, /^meta/);
          return;
        }
        // A change payload as storage keeps it: canonical text, written as UTF-8 and parsed back.
        const payload = { post: { body: 'b', meta: r.value } };
        const stored = Buffer.from(JSON.stringify(payload), 'utf8').toString('utf8');
        const change = sealChange({ serial: 0, hash: GENESIS_HASH }, { originNodeId: 'n', type: 'post.created', payloadVersion: 1, payload, createdAt: 1 });
        const readBack = { ...change, payload: JSON.parse(stored) as Record<string, unknown> };
        assert.equal(changeHash(GENESIS_HASH, readBack), change.hash);
        assert.equal(canonicalJson(JSON.parse(canonicalJson(payload))), canonicalJson(payload));
      }),
      { numRuns: 400 },
    );
  });
});
