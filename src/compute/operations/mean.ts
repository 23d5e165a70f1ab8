/** `mean`: the mean of each column's non-null values, per group. Partial: n, mean, M2; merge: Chan's formula. */
import { z } from 'zod';
import { columnGroupsSchema, finishColumnGroups, localColumnGroups, mergeColumnGroups, type ColumnGroupsPartial, type ColumnScan, type GroupedResult } from './column-groups.js';
import { mergeMoments, momentsSchema, momentsSelect, readMoments, type Moments } from './moments.js';
import { columnList, defineOperation, groupByParam } from './operation.js';

const params = z.strictObject({ op: z.literal('mean'), columns: columnList, groupBy: groupByParam });
export type MeanParams = z.infer<typeof params>;

const scanOf = (p: MeanParams): ColumnScan<Moments> => ({ groupBy: p.groupBy, columns: p.columns, select: momentsSelect, read: readMoments });

export const meanOperation = defineOperation<MeanParams, ColumnGroupsPartial<Moments>, never, never, GroupedResult<number>>({
  name: 'mean',
  summary: "mean of each column's values",
  params,
  partial: (p) => columnGroupsSchema(momentsSchema, p.columns.length, p.groupBy?.length ?? 0),
  columns: (p) => ({ numeric: p.columns, any: p.groupBy ?? [] }),
  local: (source, p) => localColumnGroups(source, scanOf(p)),
  scan: (p) => scanOf(p),
  step: (p, partials, _prior, { k }) => ({
    result: finishColumnGroups(p.groupBy, p.columns, mergeColumnGroups(partials, mergeMoments), k, (m) => ({ n: m.n, value: m.n > 0 ? m.mean : null })),
  }),
});
