/**
 * `crosstab`: the counts of rows for each pair of values of two columns (`row`, `column`).
 * Partial: the non-empty cells; merge: their sums (exact). A cell of 1..k-1 rows is reported
 * as null; the margins are not reported (they would give a suppressed cell back).
 */
import { z } from 'zod';
import { groupKey, groupSql, isSmallCell, mergeByKey, num, readKey, compareKeys, type GroupKey } from './groups.js';
import { columnName, countValue, defineOperation } from './operation.js';

const params = z
  .strictObject({ op: z.literal('crosstab'), row: columnName, column: columnName })
  .refine((p) => p.row !== p.column, { message: 'row and column must be two different columns', path: ['column'] });
export type CrosstabParams = z.infer<typeof params>;

interface Cell {
  key: GroupKey;
  rows: number;
}
interface CrosstabPartial {
  cells: Cell[];
}

export interface CrosstabResult {
  row: string;
  column: string;
  rowValues: Array<string | null>;
  columnValues: Array<string | null>;
  /** counts[r][c]: rows whose `row` is rowValues[r] and `column` is columnValues[c]; null for 1..k-1. */
  counts: Array<Array<number | null>>;
  suppressed: number;
}

function distinct(values: Array<string | null>): Array<string | null> {
  const seen = new Map<string, string | null>();
  for (const v of values) seen.set(JSON.stringify(v), v);
  return [...seen.values()].sort((a, b) => compareKeys([a], [b]));
}

export const crosstabOperation = defineOperation<CrosstabParams, CrosstabPartial, never, never, CrosstabResult>({
  name: 'crosstab',
  summary: 'counts of rows for each pair of values of two columns',
  params: params as unknown as z.ZodType<CrosstabParams>,
  partial: () => z.strictObject({ cells: z.array(z.strictObject({ key: groupKey.length(2), rows: countValue })).max(1_000_000) }),
  columns: (p) => ({ numeric: [], any: [p.row, p.column] }),
  async local(source, p) {
    const g = groupSql([p.row, p.column]);
    const rows = await source.query(`SELECT ${g.select}count(*) AS __rows FROM ${source.view} ${g.groupBy}`);
    return { cells: rows.map((r) => ({ key: readKey(r, 2), rows: num(r.__rows) })) };
  },
  step(p, partials, _prior, { k }) {
    const cells = mergeByKey(
      partials.map((x) => x.cells),
      (a, b) => ({ key: a.key, rows: a.rows + b.rows }),
    );
    const rowValues = distinct(cells.map((c) => c.key[0] ?? null));
    const columnValues = distinct(cells.map((c) => c.key[1] ?? null));
    const rowIndex = new Map(rowValues.map((v, i) => [JSON.stringify(v), i]));
    const colIndex = new Map(columnValues.map((v, i) => [JSON.stringify(v), i]));
    const counts = rowValues.map(() => columnValues.map((): number | null => 0));
    let suppressed = 0;
    for (const c of cells) {
      const small = isSmallCell(c.rows, k);
      if (small) suppressed++;
      counts[rowIndex.get(JSON.stringify(c.key[0] ?? null)) as number]![colIndex.get(JSON.stringify(c.key[1] ?? null)) as number] = small ? null : c.rows;
    }
    return { result: { row: p.row, column: p.column, rowValues, columnValues, counts, suppressed } };
  },
});
