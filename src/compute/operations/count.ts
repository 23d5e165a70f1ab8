/** `count`: the number of rows, per group. Partial: rows per group; merge: their sum (exact). */
import { z } from 'zod';
import { columnGroupsSchema, finishColumnGroups, localColumnGroups, mergeColumnGroups, type ColumnGroupsPartial, type ColumnScan, type GroupedResult } from './column-groups.js';
import { groupByParam, defineOperation } from './operation.js';

const params = z.strictObject({ op: z.literal('count'), groupBy: groupByParam });
export type CountParams = z.infer<typeof params>;

const scanOf = (p: CountParams): ColumnScan<never> => ({ groupBy: p.groupBy, columns: [], select: () => '', read: () => undefined as never });

export const countOperation = defineOperation<CountParams, ColumnGroupsPartial<never>, never, never, GroupedResult<number>>({
  name: 'count',
  summary: 'rows per group',
  params,
  partial: (p) => columnGroupsSchema(z.never(), 0, p.groupBy?.length ?? 0),
  columns: (p) => ({ numeric: [], any: p.groupBy ?? [] }),
  local: (source, p) => localColumnGroups(source, scanOf(p)),
  scan: (p) => scanOf(p),
  step: (p, partials, _prior, { k }) => ({
    result: finishColumnGroups<never, number>(p.groupBy, [], mergeColumnGroups(partials, (a) => a), k, () => ({ n: 0, value: null })),
  }),
});
