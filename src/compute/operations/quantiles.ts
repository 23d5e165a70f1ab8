/**
 * `quantiles`: quantiles of each column's non-null values, per group, in two rounds.
 *
 * Round 1: each client sends n, min and max per group and column. The node pools them and
 * sends every client the pooled range [lo, hi] of each group and column that is not
 * suppressed. Round 2: each client counts its values in `bins` equal-width bins over that
 * range (bin b = floor((x − lo) / (hi − lo) · bins), the last bin closed); the node sums the
 * counts (exact) and reads each quantile off the pooled counts.
 *
 * What is guaranteed: the quantile is the linear interpolation between order statistics at
 * rank h = (n − 1)·p (the usual "type 7" definition, as DuckDB's `quantile_cont`), each order
 * statistic estimated inside the bin that holds it, so the reported value differs from the
 * exact pooled quantile by at most `errorBound` = (hi − lo) / bins (plus floating-point
 * rounding at bin edges). p = 0 and p = 1 are the exact min and max; a column whose values
 * are all equal is exact. The result does not depend on how the rows are split among clients
 * (same pooled counts, same arithmetic). Clients learn the pooled range of each group they
 * are asked about.
 */
import { z } from 'zod';
import { doubleLiteral, quoteIdent, quoteLiteral } from '../sql.js';
import { columnGroupsSchema, finishColumnGroups, localColumnGroups, mergeColumnGroups, type ColumnGroup, type ColumnGroupsPartial, type ColumnScan } from './column-groups.js';
import { groupKey, groupSql, keyId, num, readKey, type GroupKey } from './groups.js';
import { columnList, countValue, defineOperation, finite, groupByParam } from './operation.js';
import { MycelError } from '../../errors.js';

const params = z.strictObject({
  op: z.literal('quantiles'),
  columns: columnList,
  probabilities: z.array(z.number().min(0).max(1)).min(1).max(99),
  groupBy: groupByParam,
  bins: z.number().int().min(2).max(100_000).optional(),
});
export type QuantilesParams = z.infer<typeof params>;

interface Range {
  n: number;
  min: number | null;
  max: number | null;
}
const rangeSchema = z.strictObject({ n: countValue, min: finite.nullable(), max: finite.nullable() });

/** Round 2's request: the pooled [lo, hi] per group and column (null: not asked). */
interface BinRequest {
  groups: Array<{ key: GroupKey; ranges: Array<[number, number] | null> }>;
}
/** Round 2's partial: per column, per group, the non-empty bins as [bin, count]. */
interface BinPartial {
  columns: Array<Array<{ key: GroupKey; bins: Array<[number, number]> }>>;
}
type Partial = ColumnGroupsPartial<Range> | BinPartial;
interface Memo {
  merged: Array<ColumnGroup<Range>>;
  suppressed: number;
}

export interface QuantileValue {
  n: number;
  /** quantiles[i] is the quantile at probabilities[i]. */
  quantiles: number[];
  /** |reported − exact| ≤ errorBound for every quantile of this column and group. */
  errorBound: number;
}

export interface QuantilesResult {
  groupBy: string[];
  columns: string[];
  probabilities: number[];
  bins: number;
  groups: Array<{ key: GroupKey; rows: number; values: Array<QuantileValue | null> }>;
  suppressed: number;
}

const DEFAULT_BINS = 10_000;

/** The quantile at p from pooled bin counts over [lo, hi], with min and max exact. */
export function quantileFromBins(counts: ReadonlyMap<number, number>, range: { n: number; min: number; max: number }, bins: number, p: number): number {
  const { n, min, max } = range;
  if (min === max) return min;
  const width = (max - min) / bins;
  const sorted = [...counts.entries()].sort((a, b) => a[0] - b[0]);
  const order = (i: number): number => {
    if (i <= 0) return min;
    if (i >= n - 1) return max;
    let before = 0;
    for (const [bin, count] of sorted) {
      if (i < before + count) {
        const lo = min + bin * width;
        const estimate = lo + ((i - before + 0.5) / count) * width;
        return Math.min(max, Math.max(min, Math.min(lo + width, Math.max(lo, estimate))));
      }
      before += count;
    }
    return max;
  };
  const h = (n - 1) * p;
  const f = Math.floor(h);
  const lower = order(f);
  return h === f ? lower : lower + (h - f) * (order(Math.ceil(h)) - lower);
}

/** Round 1's read: n, min and max per group and column. */
const rangeScan = (p: QuantilesParams): ColumnScan<Range> => ({
  groupBy: p.groupBy,
  columns: p.columns,
  select: (c, i) => `count(${quoteIdent(c)}) AS __n${i}, min(CAST(${quoteIdent(c)} AS DOUBLE)) AS __lo${i}, max(CAST(${quoteIdent(c)} AS DOUBLE)) AS __hi${i}`,
  read: (row, i) => {
    const n = num(row[`__n${i}`]);
    return { n, min: n === 0 ? null : num(row[`__lo${i}`]), max: n === 0 ? null : num(row[`__hi${i}`]) };
  },
});

export const quantilesOperation = defineOperation<QuantilesParams, Partial, BinRequest, Memo, QuantilesResult>({
  name: 'quantiles',
  summary: "quantiles of each column's values (two rounds; error bound (max − min) / bins)",
  params,
  partial: (p) =>
    z.union([
      columnGroupsSchema(rangeSchema, p.columns.length, p.groupBy?.length ?? 0),
      z.strictObject({
        columns: z
          .array(z.array(z.strictObject({ key: groupKey.length(p.groupBy?.length ?? 0), bins: z.array(z.tuple([z.number().int().min(0).max((p.bins ?? DEFAULT_BINS) - 1), countValue])).max(p.bins ?? DEFAULT_BINS) })).max(1_000_000))
          .length(p.columns.length),
      }),
    ]) as unknown as z.ZodType<Partial>,
  columns: (p) => ({ numeric: p.columns, any: p.groupBy ?? [] }),
  scan: (p, request) => (request === undefined ? rangeScan(p) : undefined),
  async local(source, p, request) {
    if (request === undefined) return localColumnGroups(source, rangeScan(p));
    const width = p.groupBy?.length ?? 0;
    const bins = p.bins ?? DEFAULT_BINS;
    const g = groupSql(p.groupBy);
    const keyCols = Array.from({ length: width }, (_, i) => `__g${i}`);
    const columns: BinPartial['columns'] = [];
    for (let c = 0; c < p.columns.length; c++) {
      const asked = request.groups.filter((grp) => grp.ranges[c] !== null && grp.ranges[c] !== undefined);
      if (asked.length === 0) {
        columns.push([]);
        continue;
      }
      const values = asked
        .map((grp) => {
          const [lo, hi] = grp.ranges[c] as [number, number];
          const key = grp.key.map((v) => (v === null ? 'CAST(NULL AS VARCHAR)' : quoteLiteral(v)));
          return `(${[...key, doubleLiteral(lo), doubleLiteral(hi)].join(', ')})`;
        })
        .join(', ');
      const x = `CAST(${quoteIdent(p.columns[c] as string)} AS DOUBLE)`;
      const join = keyCols.length === 0 ? 'TRUE' : keyCols.map((k) => `__src.${k} IS NOT DISTINCT FROM __r.${k}`).join(' AND ');
      const bin = `CASE WHEN __r.hi = __r.lo THEN 0 ELSE least(${bins - 1}, greatest(0, floor((__src.__x - __r.lo) / (__r.hi - __r.lo) * ${bins})))::BIGINT END`;
      const rows = await source.query(
        `WITH __r(${[...keyCols, 'lo', 'hi'].join(', ')}) AS (VALUES ${values}), __src AS (SELECT ${g.select}${x} AS __x FROM ${source.view} WHERE ${x} IS NOT NULL) ` +
          `SELECT ${keyCols.map((k) => `__src.${k} AS ${k}, `).join('')}${bin} AS __bin, count(*) AS __c FROM __src JOIN __r ON ${join} GROUP BY ALL`,
      );
      const byKey = new Map<string, { key: GroupKey; bins: Array<[number, number]> }>();
      for (const row of rows) {
        const key = readKey(row, width);
        const id = keyId(key);
        let entry = byKey.get(id);
        if (!entry) byKey.set(id, (entry = { key, bins: [] }));
        entry.bins.push([num(row.__bin), num(row.__c)]);
      }
      columns.push([...byKey.values()]);
    }
    return { columns };
  },
  step(p, partials, prior, { k }) {
    if (prior === undefined) {
      const ranges = partials as Array<ColumnGroupsPartial<Range>>;
      if (!ranges.every((r) => 'groups' in r)) throw new MycelError('TASK_OUTPUT_INVALID', { path: 'output', round: 1 }, 'quantiles: round 1 expects ranges');
      const merged = mergeColumnGroups(ranges, (a, b) => ({
        n: a.n + b.n,
        min: a.min === null ? b.min : b.min === null ? a.min : Math.min(a.min, b.min),
        max: a.max === null ? b.max : b.max === null ? a.max : Math.max(a.max, b.max),
      }));
      const kept = finishColumnGroups(p.groupBy, p.columns, merged, k, (r) => ({ n: r.n, value: r }));
      const request: BinRequest = {
        groups: kept.groups.map((grp) => ({
          key: grp.key,
          ranges: grp.values.map((r) => (r === null || r.n === 0 ? null : ([r.min, r.max] as [number, number]))),
        })),
      };
      return { request, memo: { merged, suppressed: kept.suppressed } };
    }
    const binned = partials as BinPartial[];
    if (!binned.every((b) => 'columns' in b)) throw new MycelError('TASK_OUTPUT_INVALID', { path: 'output', round: 2 }, 'quantiles: round 2 expects bin counts');
    const bins = p.bins ?? DEFAULT_BINS;
    const asked = new Map(prior.request.groups.map((grp) => [keyId(grp.key), grp]));
    const groups: QuantilesResult['groups'] = [];
    for (const group of prior.memo.merged) {
      const id = keyId(group.key);
      const request = asked.get(id);
      if (!request) continue;
      const values = group.values.map((range, c): QuantileValue | null => {
        if (request.ranges[c] === null || range.min === null || range.max === null) return null;
        const counts = new Map<number, number>();
        for (const partial of binned) {
          for (const entry of partial.columns[c] ?? []) {
            if (keyId(entry.key) !== id) continue;
            for (const [bin, count] of entry.bins) counts.set(bin, (counts.get(bin) ?? 0) + count);
          }
        }
        let total = 0;
        for (const count of counts.values()) total += count;
        if (total !== range.n) throw new MycelError('TASK_OUTPUT_INVALID', { path: `columns.${c}`, round: 2, expected: range.n, got: total }, 'quantiles: the bin counts do not add up to the values counted in round 1');
        const full = { n: range.n, min: range.min, max: range.max };
        return { n: range.n, quantiles: p.probabilities.map((q) => quantileFromBins(counts, full, bins, q)), errorBound: (range.max - range.min) / bins };
      });
      groups.push({ key: group.key, rows: group.rows, values });
    }
    return { result: { groupBy: [...(p.groupBy ?? [])], columns: [...p.columns], probabilities: [...p.probabilities], bins, groups, suppressed: prior.memo.suppressed } };
  },
});
