/** `sum`: the sum of each column's non-null values, per group. Partial: n and Σx; merge: their sums. */
import { z } from 'zod';
import { quoteIdent } from '../sql.js';
import { columnGroupsSchema, finishColumnGroups, localColumnGroups, mergeColumnGroups, type ColumnGroupsPartial, type ColumnScan, type GroupedResult } from './column-groups.js';
import { num } from './groups.js';
import { columnList, countValue, defineOperation, finite, groupByParam } from './operation.js';

const params = z.strictObject({ op: z.literal('sum'), columns: columnList, groupBy: groupByParam });
export type SumParams = z.infer<typeof params>;

interface Sum {
  n: number;
  sum: number;
}
const sumSchema = z.strictObject({ n: countValue, sum: finite });

const scanOf = (p: SumParams): ColumnScan<Sum> => ({
  groupBy: p.groupBy,
  columns: p.columns,
  select: (c, i) => `count(${quoteIdent(c)}) AS __n${i}, coalesce(sum(CAST(${quoteIdent(c)} AS DOUBLE)), 0) AS __sum${i}`,
  read: (row, i) => ({ n: num(row[`__n${i}`]), sum: num(row[`__sum${i}`]) }),
});

export const sumOperation = defineOperation<SumParams, ColumnGroupsPartial<Sum>, never, never, GroupedResult<number>>({
  name: 'sum',
  summary: "sum of each column's values",
  params,
  partial: (p) => columnGroupsSchema(sumSchema, p.columns.length, p.groupBy?.length ?? 0),
  columns: (p) => ({ numeric: p.columns, any: p.groupBy ?? [] }),
  local: (source, p) => localColumnGroups(source, scanOf(p)),
  scan: (p) => scanOf(p),
  step: (p, partials, _prior, { k }) => ({
    result: finishColumnGroups(
      p.groupBy,
      p.columns,
      mergeColumnGroups(partials, (a, b) => ({ n: a.n + b.n, sum: a.sum + b.sum })),
      k,
      (s) => ({ n: s.n, value: s.sum }),
    ),
  }),
});
