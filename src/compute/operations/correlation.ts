/**
 * `correlation`: the Pearson correlation matrix of 2..16 columns over the rows where all of
 * them have a value (complete cases), per group. Partial: n, the means and the co-moment
 * matrix C_ij = Σ(x_i − x̄_i)(x_j − x̄_j); merge: the pairwise update of means and
 * co-moments (Chan's formula in several dimensions), exact up to rounding. A group of 1..k-1
 * complete rows is left out; r_ij is null where a column does not vary.
 */
import { z } from 'zod';
import { quoteIdent } from '../sql.js';
import { groupKey, groupSql, isSmallCell, mergeByKey, num, readKey, type GroupKey } from './groups.js';
import { columnName, countValue, defineOperation, finite, groupByParam } from './operation.js';

const params = z.strictObject({
  op: z.literal('correlation'),
  columns: z
    .array(columnName)
    .min(2)
    .max(16)
    .refine((a) => new Set(a).size === a.length, { message: 'columns names a column twice' }),
  groupBy: groupByParam,
});
export type CorrelationParams = z.infer<typeof params>;

interface CoMoments {
  key: GroupKey;
  rows: number;
  means: number[];
  /** The full symmetric matrix, row by row. */
  comoments: number[][];
}
interface CorrelationPartial {
  groups: CoMoments[];
}

export interface CorrelationResult {
  groupBy: string[];
  columns: string[];
  groups: Array<{ key: GroupKey; rows: number; matrix: Array<Array<number | null>> }>;
  suppressed: number;
}

/** The co-moments of two disjoint sets of rows, pooled. */
export function mergeCoMoments(a: CoMoments, b: CoMoments): CoMoments {
  if (a.rows === 0) return b;
  if (b.rows === 0) return a;
  const n = a.rows + b.rows;
  const delta = a.means.map((m, i) => (b.means[i] as number) - m);
  return {
    key: a.key,
    rows: n,
    means: a.means.map((m, i) => m + ((delta[i] as number) * b.rows) / n),
    comoments: a.comoments.map((row, i) =>
      row.map((c, j) => c + (b.comoments[i]![j] as number) + ((delta[i] as number) * (delta[j] as number) * a.rows * b.rows) / n),
    ),
  };
}

export const correlationOperation = defineOperation<CorrelationParams, CorrelationPartial, never, never, CorrelationResult>({
  name: 'correlation',
  summary: 'Pearson correlation matrix of 2..16 columns (complete cases)',
  params,
  partial: (p) => {
    const m = p.columns.length;
    return z.strictObject({
      groups: z
        .array(
          z.strictObject({
            key: groupKey.length(p.groupBy?.length ?? 0),
            rows: countValue,
            means: z.array(finite).length(m),
            comoments: z.array(z.array(finite).length(m)).length(m),
          }),
        )
        .max(1_000_000),
    });
  },
  columns: (p) => ({ numeric: p.columns, any: p.groupBy ?? [] }),
  async local(source, p) {
    const g = groupSql(p.groupBy);
    const xs = p.columns.map((c) => `CAST(${quoteIdent(c)} AS DOUBLE)`);
    const items: string[] = ['count(*) AS __rows'];
    xs.forEach((x, i) => items.push(`avg(${x}) AS __m${i}`));
    for (let i = 0; i < xs.length; i++) for (let j = i; j < xs.length; j++) items.push(`covar_pop(${xs[i]}, ${xs[j]}) * count(*) AS __c${i}_${j}`);
    const where = p.columns.map((c) => `${quoteIdent(c)} IS NOT NULL`).join(' AND ');
    const rows = await source.query(`SELECT ${g.select}${items.join(', ')} FROM ${source.view} WHERE ${where} ${g.groupBy}`);
    const m = p.columns.length;
    return {
      groups: rows.map((row) => {
        const comoments = Array.from({ length: m }, () => new Array<number>(m).fill(0));
        for (let i = 0; i < m; i++) {
          for (let j = i; j < m; j++) {
            const v = num(row[`__c${i}_${j}`]);
            comoments[i]![j] = comoments[j]![i] = Number.isFinite(v) ? v : 0;
          }
        }
        const n = num(row.__rows);
        return { key: readKey(row, p.groupBy?.length ?? 0), rows: n, means: p.columns.map((_, i) => (n === 0 ? 0 : num(row[`__m${i}`]))), comoments };
      }),
    };
  },
  step(p, partials, _prior, { k }) {
    const merged = mergeByKey(
      partials.map((x) => x.groups),
      mergeCoMoments,
    );
    let suppressed = 0;
    const groups: CorrelationResult['groups'] = [];
    for (const g of merged) {
      if (isSmallCell(g.rows, k)) {
        suppressed++;
        continue;
      }
      const matrix = g.comoments.map((row, i) =>
        row.map((c, j) => {
          const d = (g.comoments[i]![i] as number) * (g.comoments[j]![j] as number);
          return d > 0 ? (i === j ? 1 : Math.max(-1, Math.min(1, c / Math.sqrt(d)))) : null;
        }),
      );
      groups.push({ key: g.key, rows: g.rows, matrix });
    }
    return { result: { groupBy: [...(p.groupBy ?? [])], columns: [...p.columns], groups, suppressed } };
  },
});
