/**
 * `variance` and `std`: the variance and standard deviation of each column's non-null values,
 * per group; `ddof` 1 (the default) divides by n − 1 (sample), 0 by n (population).
 * Partial: n, mean, M2; merge: Chan's formula (exact, not an average of variances).
 */
import { z } from 'zod';
import { columnGroupsSchema, finishColumnGroups, localColumnGroups, mergeColumnGroups, type ColumnGroupsPartial, type ColumnScan, type GroupedResult } from './column-groups.js';
import { mergeMoments, momentsSchema, momentsSelect, readMoments, varianceOf, type Moments } from './moments.js';
import { columnList, defineOperation, groupByParam, type RegisteredOperation } from './operation.js';

function dispersion<Name extends 'variance' | 'std'>(name: Name, summary: string, transform: (variance: number) => number): RegisteredOperation {
  const params = z.strictObject({
    op: z.literal(name),
    columns: columnList,
    groupBy: groupByParam,
    ddof: z.union([z.literal(0), z.literal(1)]).optional(),
  });
  type P = z.infer<typeof params>;
  const scanOf = (p: P): ColumnScan<Moments> => ({ groupBy: p.groupBy, columns: p.columns, select: momentsSelect, read: readMoments });
  return defineOperation<P, ColumnGroupsPartial<Moments>, never, never, GroupedResult<number>>({
    name: name as P['op'],
    summary,
    params,
    partial: (p) => columnGroupsSchema(momentsSchema, p.columns.length, p.groupBy?.length ?? 0),
    columns: (p) => ({ numeric: p.columns, any: p.groupBy ?? [] }),
    local: (source, p) => localColumnGroups(source, scanOf(p)),
    scan: (p) => scanOf(p),
    step: (p, partials, _prior, { k }) => ({
      result: finishColumnGroups(p.groupBy, p.columns, mergeColumnGroups(partials, mergeMoments), k, (m) => {
        const v = varianceOf(m, p.ddof ?? 1);
        return { n: m.n, value: v === null ? null : transform(v) };
      }),
    }),
  });
}

export const varianceOperation = dispersion('variance', "variance of each column's values (ddof 1 or 0)", (v) => v);
export const stdOperation = dispersion('std', "standard deviation of each column's values (ddof 1 or 0)", Math.sqrt);
