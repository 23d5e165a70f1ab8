import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { findJsonProblem, MAX_JSON_DEPTH, unstorableStringReason } from './json-limits.js';

/** The oracle: nesting depth by plain recursion (the arbitraries stay shallow enough for it). */
function depthOf(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  let max = 0;
  for (const c of children) max = Math.max(max, depthOf(c));
  return max + 1;
}

const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function nested(depth: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v };
  return v;
}

/** Any string of UTF-16 code units: NUL and lone surrogates come up often. */
const codeUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }).map((u) => String.fromCharCode(...u));

describe('json-limits', () => {
  it('property: a value is refused for depth exactly when it nests deeper than the limit', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), (value, maxDepth) => {
        const problem = findJsonProblem(value, { maxDepth });
        assert.equal(problem !== null, depthOf(value) > maxDepth, JSON.stringify(problem));
        if (problem) assert.match(problem.reason, /deeper than/);
      }),
      { numRuns: 300 },
    );
  });

  it('property: a string is storable exactly when it has no NUL and no lone surrogate, and storable strings survive UTF-8', () => {
    fc.assert(
      fc.property(fc.oneof(codeUnits, fc.string({ unit: 'grapheme' })), (s) => {
        const storable = !s.includes('\u0000') && !LONE_SURROGATE_RE.test(s);
        assert.equal(unstorableStringReason(s) === null, storable, JSON.stringify(s));
        if (storable) assert.equal(Buffer.from(s, 'utf8').toString('utf8'), s);
        // The walk applies the same rule to keys and values, at any depth.
        const problem = findJsonProblem({ a: [{ [s]: 1 }], b: [s] }, { storableStrings: true });
        assert.equal(problem === null, storable);
        if (problem) assert.match(problem.path, /^a\[0\]|^b\[0\]$/);
      }),
      { numRuns: 500 },
    );
  });

  it('property: non-finite numbers are found anywhere, with their path', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(Infinity, -Infinity, Number.NaN), (value, bad) => {
        const problem = findJsonProblem({ ok: value, bad: [bad] });
        assert.deepEqual(problem, { path: 'bad[0]', reason: 'must be a finite number' });
      }),
      { numRuns: 100 },
    );
  });

  it('checks values 1,000,000 deep without overflowing the stack and stops at the limit', () => {
    const deep = nested(1_000_000);
    const problem = findJsonProblem(deep);
    assert.ok(problem);
    assert.match(problem.reason, new RegExp(`deeper than ${MAX_JSON_DEPTH} levels`));
    assert.equal(findJsonProblem(nested(MAX_JSON_DEPTH)), null);
    assert.notEqual(findJsonProblem(nested(MAX_JSON_DEPTH + 1)), null);
  });

  it('names the path with dots for identifiers and brackets otherwise', () => {
    assert.deepEqual(findJsonProblem({ a: { 'b c': [0, { d: Infinity }] } }, {}, 'meta'), { path: 'meta.a["b c"][1].d', reason: 'must be a finite number' });
    assert.deepEqual(findJsonProblem({ 'x\u0000': 1 }, { storableStrings: true }), { path: '["x\\u0000"]', reason: 'key must not contain the NUL character (U+0000)' });
    assert.equal(findJsonProblem({ f: () => 1 })?.reason, 'is not a JSON value');
  });
});
