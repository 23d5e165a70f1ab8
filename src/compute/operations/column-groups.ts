/**
 * The shape most operations share: per group, the group's row count and one summary per
 * column (`values[i]` belongs to `columns[i]`; arrays, not objects keyed by column name, so
 * no column name can collide with an object's own properties). The local step is one
 * GROUP BY query; the merge folds summaries by group key; the result drops small groups.
 */
import { z } from 'zod';
import { groupKey, groupSql, isSmallCell, mergeByKey, readKey, type GroupKey } from './groups.js';
import { countValue, type ColumnScan, type LocalSource } from './operation.js';

export type { ColumnScan };

export interface ColumnGroup<X> {
  key: GroupKey;
  rows: number;
  values: X[];
}

export interface ColumnGroupsPartial<X> {
  groups: Array<ColumnGroup<X>>;
}

/** The result of a per-column operation: groups with at least k rows (or none at all), in key order. */
export interface GroupedResult<V> {
  groupBy: string[];
  columns: string[];
  groups: Array<{ key: GroupKey; rows: number; values: Array<V | null> }>;
  /** How many groups were left out because they had 1..k-1 rows. */
  suppressed: number;
}

/** The zod schema of a partial whose per-column summary is `value`, with `columns` summaries per group and keys of `groupWidth` values. */
export function columnGroupsSchema<X>(value: z.ZodType<X>, columns: number, groupWidth: number): z.ZodType<ColumnGroupsPartial<X>> {
  return z.strictObject({
    groups: z.array(z.strictObject({ key: groupKey.length(groupWidth), rows: countValue, values: z.array(value).length(columns) })).max(1_000_000),
  }) as unknown as z.ZodType<ColumnGroupsPartial<X>>;
}

/** Runs scans, one query per distinct `groupBy`, and answers each scan's partial in order. */
export async function runColumnScans(source: LocalSource, scans: ReadonlyArray<ColumnScan<unknown>>): Promise<Array<ColumnGroupsPartial<unknown>>> {
  const out = new Array<ColumnGroupsPartial<unknown>>(scans.length);
  const byGroups = new Map<string, number[]>();
  scans.forEach((scan, j) => {
    const id = JSON.stringify(scan.groupBy ?? []);
    byGroups.set(id, [...(byGroups.get(id) ?? []), j]);
  });
  for (const members of byGroups.values()) {
    const groupBy = scans[members[0] as number]!.groupBy;
    const g = groupSql(groupBy);
    const offsets: number[] = [];
    const items: string[] = [];
    let next = 0;
    for (const j of members) {
      const scan = scans[j]!;
      offsets.push(next);
      scan.columns.forEach((c, i) => items.push(scan.select(c, next + i)));
      next += scan.columns.length;
    }
    const sql = `SELECT ${g.select}count(*) AS __rows${items.length > 0 ? ', ' + items.join(', ') : ''} FROM ${source.view} ${g.groupBy}`;
    const rows = await source.query(sql);
    const width = groupBy?.length ?? 0;
    members.forEach((j, m) => {
      const scan = scans[j]!;
      const offset = offsets[m] as number;
      out[j] = { groups: rows.map((row) => ({ key: readKey(row, width), rows: Number(row.__rows), values: scan.columns.map((_, i) => scan.read(row, offset + i)) })) };
    });
  }
  return out;
}

/** One scan's partial (its own query). */
export async function localColumnGroups<X>(source: LocalSource, scan: ColumnScan<X>): Promise<ColumnGroupsPartial<X>> {
  const [partial] = await runColumnScans(source, [scan as ColumnScan<unknown>]);
  return partial as ColumnGroupsPartial<X>;
}

/** Merges the partials of several clients: summaries of one group folded with `merge`, column by column. */
export function mergeColumnGroups<X>(partials: ReadonlyArray<ColumnGroupsPartial<X>>, merge: (a: X, b: X) => X): Array<ColumnGroup<X>> {
  return mergeByKey(
    partials.map((p) => p.groups),
    (a, b) => ({ key: a.key, rows: a.rows + b.rows, values: a.values.map((x, i) => merge(x, b.values[i] as X)) }),
  );
}

/** The result: groups of 1..k-1 rows left out, each kept summary turned into its value by `finish` (null when undefined or computed from 1..k-1 values). */
export function finishColumnGroups<X, V>(
  groupBy: readonly string[] | undefined,
  columns: readonly string[],
  merged: ReadonlyArray<ColumnGroup<X>>,
  k: number,
  finish: (x: X) => { n: number; value: V | null },
): GroupedResult<V> {
  let suppressed = 0;
  const groups: GroupedResult<V>['groups'] = [];
  for (const group of merged) {
    if (isSmallCell(group.rows, k)) {
      suppressed++;
      continue;
    }
    groups.push({
      key: group.key,
      rows: group.rows,
      values: group.values.map((x) => {
        const { n, value } = finish(x);
        return isSmallCell(n, k) ? null : value;
      }),
    });
  }
  return { groupBy: [...(groupBy ?? [])], columns: [...columns], groups, suppressed };
}
