/**
 * `histogram`: counts of a column's values in the bins given by `edges` (e0 < e1 < … < em):
 * bin i is [e_i, e_{i+1}), the last bin also holds e_m; values below e0 and above e_m are
 * counted apart. Per group. Partial: the counts; merge: their sums (exact). A bin (or the
 * below/above count) of 1..k-1 rows is reported as null.
 */
import { z } from 'zod';
import { doubleLiteral, quoteIdent } from '../sql.js';
import { groupKey, groupSql, isSmallCell, mergeByKey, num, readKey, type GroupKey } from './groups.js';
import { columnName, countValue, defineOperation, groupByParam } from './operation.js';

const params = z.strictObject({
  op: z.literal('histogram'),
  column: columnName,
  edges: z
    .array(z.number().refine(Number.isFinite, { message: 'an edge must be a finite number' }))
    .min(2)
    .max(1001)
    .refine((e) => e.every((x, i) => i === 0 || x > (e[i - 1] as number)), { message: 'edges must increase strictly' }),
  groupBy: groupByParam,
});
export type HistogramParams = z.infer<typeof params>;

interface HistogramGroup {
  key: GroupKey;
  rows: number;
  counts: number[];
  below: number;
  above: number;
}
interface HistogramPartial {
  groups: HistogramGroup[];
}

export interface HistogramResult {
  groupBy: string[];
  column: string;
  edges: number[];
  groups: Array<{ key: GroupKey; rows: number; counts: Array<number | null>; below: number | null; above: number | null }>;
  suppressed: number;
}

const small = (count: number, k: number): number | null => (isSmallCell(count, k) ? null : count);

export const histogramOperation = defineOperation<HistogramParams, HistogramPartial, never, never, HistogramResult>({
  name: 'histogram',
  summary: "counts of a column's values in given bins",
  params,
  partial: (p) =>
    z.strictObject({
      groups: z
        .array(
          z.strictObject({
            key: groupKey.length(p.groupBy?.length ?? 0),
            rows: countValue,
            counts: z.array(countValue).length(p.edges.length - 1),
            below: countValue,
            above: countValue,
          }),
        )
        .max(1_000_000),
    }),
  columns: (p) => ({ numeric: [p.column], any: p.groupBy ?? [] }),
  async local(source, p) {
    // One scan: each value's bin by a binary search written as nested CASEs (log2(bins)
    // comparisons a row), -3 for null, -2 below e0, -1 above the last edge.
    const g = groupSql(p.groupBy);
    const width = p.groupBy?.length ?? 0;
    const x = `CAST(${quoteIdent(p.column)} AS DOUBLE)`;
    const edges = p.edges.map(doubleLiteral);
    const search = (lo: number, hi: number): string => {
      if (hi - lo === 1) return String(lo);
      const mid = Math.floor((lo + hi) / 2);
      return `CASE WHEN __x < ${edges[mid]} THEN ${search(lo, mid)} ELSE ${search(mid, hi)} END`;
    };
    const bin = `CASE WHEN __x IS NULL THEN -3 WHEN __x < ${edges[0]} THEN -2 WHEN __x > ${edges[edges.length - 1]} THEN -1 ELSE ${search(0, edges.length - 1)} END`;
    const groupCols = Array.from({ length: width }, (_, i) => `__g${i}`);
    const rows = await source.query(
      `SELECT ${groupCols.map((c) => `${c}, `).join('')}${bin} AS __bin, count(*) AS __c FROM (SELECT ${g.select}${x} AS __x FROM ${source.view}) GROUP BY ALL`,
    );
    const bins = p.edges.length - 1;
    const byKey = new Map<string, HistogramGroup>();
    for (const row of rows) {
      const key = readKey(row, width);
      const id = JSON.stringify(key);
      let group = byKey.get(id);
      if (!group) byKey.set(id, (group = { key, rows: 0, counts: new Array<number>(bins).fill(0), below: 0, above: 0 }));
      const b = num(row.__bin);
      const c = num(row.__c);
      group.rows += c;
      if (b === -2) group.below += c;
      else if (b === -1) group.above += c;
      else if (b >= 0) group.counts[b] = (group.counts[b] as number) + c;
    }
    if (width === 0 && byKey.size === 0) byKey.set('[]', { key: [], rows: 0, counts: new Array<number>(bins).fill(0), below: 0, above: 0 });
    return { groups: [...byKey.values()] };
  },
  step(p, partials, _prior, { k }) {
    const merged = mergeByKey(
      partials.map((x) => x.groups),
      (a, b) => ({ key: a.key, rows: a.rows + b.rows, counts: a.counts.map((c, i) => c + (b.counts[i] as number)), below: a.below + b.below, above: a.above + b.above }),
    );
    let suppressed = 0;
    const groups: HistogramResult['groups'] = [];
    for (const g of merged) {
      if (isSmallCell(g.rows, k)) {
        suppressed++;
        continue;
      }
      groups.push({ key: g.key, rows: g.rows, counts: g.counts.map((c) => small(c, k)), below: small(g.below, k), above: small(g.above, k) });
    }
    return { result: { groupBy: [...(p.groupBy ?? [])], column: p.column, edges: [...p.edges], groups, suppressed } };
  },
});
