/**
 * Groups: the `groupBy` columns as SQL, group keys, merging partials by key, and the
 * small-cell rule. A group key is the list of the group columns' values as text (DuckDB's
 * `CAST(… AS VARCHAR)`, NULL kept as null), so every client names a group the same way
 * whatever type its sniffer read. An ungrouped operation has one group whose key is [].
 */
import { z } from 'zod';
import { quoteIdent } from '../sql.js';
import type { SqlRow } from './operation.js';

export type GroupKey = Array<string | null>;

export const groupKey = z.array(z.string().nullable()).max(4);

/** The select list and GROUP BY clause for `groupBy` (empty strings when ungrouped). */
export function groupSql(groupBy: readonly string[] | undefined): { select: string; groupBy: string } {
  const cols = groupBy ?? [];
  if (cols.length === 0) return { select: '', groupBy: '' };
  const select = cols.map((c, i) => `CAST(${quoteIdent(c)} AS VARCHAR) AS __g${i}, `).join('');
  const by = `GROUP BY ${cols.map((_, i) => `__g${i}`).join(', ')}`;
  return { select, groupBy: by };
}

/** The group key of a result row of a query built with `groupSql`. */
export function readKey(row: SqlRow, width: number): GroupKey {
  const key: GroupKey = [];
  for (let i = 0; i < width; i++) {
    const v = row[`__g${i}`];
    key.push(v === null || v === undefined ? null : String(v));
  }
  return key;
}

/** A key's identity for maps (JSON keeps null apart from "null"). */
export function keyId(key: GroupKey): string {
  return JSON.stringify(key);
}

/** Total order of keys: null first, then by text, column by column; results list groups in this order. */
export function compareKeys(a: GroupKey, b: GroupKey): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === y) continue;
    if (x === null) return -1;
    if (y === null) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** Merges lists of keyed entries from several clients: `combine` folds entries of one key. */
export function mergeByKey<T extends { key: GroupKey }>(lists: readonly (readonly T[])[], combine: (a: T, b: T) => T): T[] {
  const byKey = new Map<string, T>();
  for (const list of lists) {
    for (const entry of list) {
      const id = keyId(entry.key);
      const seen = byKey.get(id);
      byKey.set(id, seen === undefined ? entry : combine(seen, entry));
    }
  }
  return [...byKey.values()].sort((a, b) => compareKeys(a.key, b.key));
}

/** The small-cell rule: a cell (group, bin, crosstab cell) of 1..k-1 rows is not reported. An empty cell is. */
export function isSmallCell(rows: number, k: number): boolean {
  return rows > 0 && rows < k;
}

/** The result rows of a query as numbers (DuckDB's BIGINT arrives as bigint). */
export function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value === null || value === undefined) return Number.NaN;
  return Number(value);
}
