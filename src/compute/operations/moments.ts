/**
 * Count, mean and M2 (the sum of squared deviations from the mean) of one column, and their
 * exact merge (Chan, Golub and LeVeque's pairwise formula). Merging partials this way gives
 * the pooled mean and variance up to floating-point rounding, never an average of averages.
 */
import { z } from 'zod';
import { quoteIdent } from '../sql.js';
import { countValue, finite } from './operation.js';
import { num, type GroupKey } from './groups.js';
import type { SqlRow } from './operation.js';

export interface Moments {
  n: number;
  mean: number;
  m2: number;
}

export const momentsSchema = z.strictObject({ n: countValue, mean: finite, m2: finite.refine((v) => v >= 0, { message: 'M2 is negative' }) });

/** The pooled moments of two disjoint sets of values. */
export function mergeMoments(a: Moments, b: Moments): Moments {
  if (a.n === 0) return b;
  if (b.n === 0) return a;
  const n = a.n + b.n;
  const delta = b.mean - a.mean;
  return { n, mean: a.mean + (delta * b.n) / n, m2: a.m2 + b.m2 + (delta * delta * a.n * b.n) / n };
}

/** Select-list items computing the moments of column `name` as `__n{i}`, `__mean{i}`, `__m2{i}`. */
export function momentsSelect(name: string, i: number): string {
  const x = `CAST(${quoteIdent(name)} AS DOUBLE)`;
  return `count(${x}) AS __n${i}, avg(${x}) AS __mean${i}, var_pop(${x}) * count(${x}) AS __m2${i}`;
}

/** The moments read from a row selected with `momentsSelect`. */
export function readMoments(row: SqlRow, i: number): Moments {
  const n = num(row[`__n${i}`]);
  if (n === 0) return { n: 0, mean: 0, m2: 0 };
  return { n, mean: num(row[`__mean${i}`]), m2: Math.max(0, num(row[`__m2${i}`])) };
}

/** A variance from moments: ddof 0 (population) or 1 (sample); null when undefined. */
export function varianceOf(m: Moments, ddof: 0 | 1): number | null {
  return m.n - ddof > 0 ? m.m2 / (m.n - ddof) : null;
}

export type { GroupKey };
