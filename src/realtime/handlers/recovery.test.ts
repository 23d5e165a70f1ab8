import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Publication } from '../types.js';
import { evaluateRecovery } from './recovery.js';

const now = 1_000_000;
const pub = (offset: number, time = now - 1000): Publication => ({ offset, data: offset, time });
const history = (pubs: Publication[], top: number, epoch = 'E') => ({ publications: pubs, position: { offset: top, epoch } });

describe('evaluateRecovery', () => {
  it('recovers the whole gap', () => {
    const r = evaluateRecovery(history([pub(4), pub(5), pub(6)], 6), { offset: 3, epoch: 'E' }, 120_000, now);
    assert.equal(r.recovered, true);
    assert.deepEqual(r.publications.map((p) => p.offset), [4, 5, 6]);
  });
  it('recovers nothing-missed, and an empty epoch matches any', () => {
    assert.equal(evaluateRecovery(history([], 3), { offset: 3, epoch: 'E' }, 120_000, now).recovered, true);
    assert.equal(evaluateRecovery(history([pub(4)], 4), { offset: 3, epoch: '' }, 120_000, now).recovered, true);
  });
  it('fails on another epoch, a trimmed start, a short end, a hole, a future offset', () => {
    const since = { offset: 3, epoch: 'E' };
    assert.equal(evaluateRecovery(history([pub(4)], 4, 'F'), since, 120_000, now).recovered, false);
    assert.equal(evaluateRecovery(history([pub(5), pub(6)], 6), since, 120_000, now).recovered, false);
    assert.equal(evaluateRecovery(history([pub(4), pub(5)], 6), since, 120_000, now).recovered, false);
    assert.equal(evaluateRecovery(history([pub(4), pub(6)], 6), since, 120_000, now).recovered, false);
    assert.equal(evaluateRecovery(history([], 2), since, 120_000, now).recovered, false);
  });
  it('fails when the oldest missed publication is older than the window, and never returns a partial replay', () => {
    const r = evaluateRecovery(history([pub(4, now - 130_000), pub(5)], 5), { offset: 3, epoch: 'E' }, 120_000, now);
    assert.equal(r.recovered, false);
    assert.deepEqual(r.publications, []);
    assert.deepEqual(r.top, { offset: 5, epoch: 'E' });
  });
});
