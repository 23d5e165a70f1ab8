/** `min` and `max`: the least and greatest of each column's non-null values, per group. Partial: n and the extreme; merge: the extreme of extremes (exact). */
import { z } from 'zod';
import { quoteIdent } from '../sql.js';
import { columnGroupsSchema, finishColumnGroups, localColumnGroups, mergeColumnGroups, type ColumnGroupsPartial, type ColumnScan, type GroupedResult } from './column-groups.js';
import { num } from './groups.js';
import { columnList, countValue, defineOperation, finite, groupByParam, type RegisteredOperation } from './operation.js';

interface Extreme {
  n: number;
  value: number | null;
}
const extremeSchema = z.strictObject({ n: countValue, value: finite.nullable() });

function extreme<Name extends 'min' | 'max'>(name: Name, pick: (a: number, b: number) => number): RegisteredOperation {
  const params = z.strictObject({ op: z.literal(name), columns: columnList, groupBy: groupByParam });
  type P = z.infer<typeof params>;
  const scanOf = (p: P): ColumnScan<Extreme> => ({
    groupBy: p.groupBy,
    columns: p.columns,
    select: (c, i) => `count(${quoteIdent(c)}) AS __n${i}, ${name}(CAST(${quoteIdent(c)} AS DOUBLE)) AS __x${i}`,
    read: (row, i) => {
      const n = num(row[`__n${i}`]);
      return { n, value: n === 0 ? null : num(row[`__x${i}`]) };
    },
  });
  return defineOperation<P, ColumnGroupsPartial<Extreme>, never, never, GroupedResult<number>>({
    name: name as P['op'],
    summary: `${name === 'min' ? 'least' : 'greatest'} of each column's values`,
    params,
    partial: (p) => columnGroupsSchema(extremeSchema, p.columns.length, p.groupBy?.length ?? 0),
    columns: (p) => ({ numeric: p.columns, any: p.groupBy ?? [] }),
    local: (source, p) => localColumnGroups(source, scanOf(p)),
    scan: (p) => scanOf(p),
    step: (p, partials, _prior, { k }) => ({
      result: finishColumnGroups(
        p.groupBy,
        p.columns,
        mergeColumnGroups(partials, (a, b) => ({
          n: a.n + b.n,
          value: a.value === null ? b.value : b.value === null ? a.value : pick(a.value, b.value),
        })),
        k,
        (e) => e,
      ),
    }),
  });
}

export const minOperation = extreme('min', Math.min);
export const maxOperation = extreme('max', Math.max);
