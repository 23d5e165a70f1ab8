/**
 * The contract of a statistics operation in the registry (`registry.ts`), one file per
 * operation beside this one.
 *
 * An operation runs in rounds. Each round, every client runs `local` on its own datasource and
 * returns a **partial** (a mergeable summary: counts, sums, means and co-moments, bin counts;
 * never rows). The node (`coordinator.ts`) checks each partial against `partial`, then calls
 * `step` with all partials of the round: `step` merges them exactly and either finishes with
 * the operation's **result** (small cells suppressed with `k`) or asks for another round with
 * a **request** that every client receives, and a **memo** that stays on the node and comes
 * back to the next `step`. Only quantiles use a second round.
 *
 * Parameters are declared by `params`, a strict zod schema of the plan entry (`op` included),
 * so an unknown field or a bad value is refused before anything runs. `columns` tells which
 * columns the entry reads, so the runner refuses unknown or non-numeric columns before the
 * first aggregate. Column names reach SQL only through `quoteIdent` (`../sql.ts`).
 */
import { z } from 'zod';

/** A row of a DuckDB result: numbers (BIGINT read as number), strings, booleans or null. */
export type SqlRow = Record<string, unknown>;

/** What an operation's local step may use: the datasource as a view, and a query runner. */
export interface LocalSource {
  /** The quoted name of the view over the datasource (use it as `FROM ${view}`). */
  readonly view: string;
  query(sql: string): Promise<SqlRow[]>;
  /** The result column by column (BIGINT as bigint, DOUBLE as number), for reading many rows at once. */
  queryColumns(sql: string): Promise<unknown[][]>;
}

/**
 * What a per-column operation reads in one GROUP BY: `select(column, i)` gives the select-list
 * items of column i (aliases numbered by i), `read(row, i)` its summary from a result row.
 * Several scans on the same groups run as one query (`runColumnScans` in `column-groups.ts`), their indexes offset
 * so aliases stay apart: a plan of many such operations reads the data once per `groupBy`.
 */
export interface ColumnScan<X> {
  groupBy: readonly string[] | undefined;
  columns: readonly string[];
  select(column: string, i: number): string;
  read(row: SqlRow, i: number): X;
}

/** The columns a plan entry reads: `numeric` ones must hold numbers, `any` may hold anything. */
export interface ColumnUse {
  numeric: readonly string[];
  any: readonly string[];
}

/** Options of a merge: `k` is the small-cell threshold (no cell of 1..k-1 rows is reported). */
export interface MergeOptions {
  k: number;
}

/** What `step` answers: the next round's request (and the node-side memo), or the result. */
export type StepOutcome<Request, Memo, Result> = { request: Request; memo: Memo } | { result: Result };

/** An operation with its own types, as written in its file. */
export interface OperationDefinition<P extends { op: string }, Partial, Request, Memo, Result> {
  readonly name: P['op'];
  /** One line on what it computes (docs/compute.md lists the same). */
  readonly summary: string;
  readonly params: z.ZodType<P>;
  /** The schema a client's partial must fit, for these parameters (widths included). */
  partial(params: P): z.ZodType<Partial>;
  columns(params: P): ColumnUse;
  local(source: LocalSource, params: P, request: Request | undefined): Promise<Partial>;
  /**
   * For a per-column operation: its round's read as a scan (the same as `local` would run),
   * so the runner can join it with other operations' scans on the same groups in one query.
   */
  scan?(params: P, request: Request | undefined): ColumnScan<unknown> | undefined;
  step(params: P, partials: Partial[], prior: { request: Request; memo: Memo } | undefined, options: MergeOptions): StepOutcome<Request, Memo, Result>;
}

/** A plan entry after its schema accepted it. */
export type OperationParams = { op: string } & Record<string, unknown>;

/** An operation as the registry holds it: the same functions, types erased at this one seam. */
export interface RegisteredOperation {
  readonly name: string;
  readonly summary: string;
  readonly params: z.ZodType<OperationParams>;
  partial(params: OperationParams): z.ZodType<unknown>;
  columns(params: OperationParams): ColumnUse;
  local(source: LocalSource, params: OperationParams, request: unknown): Promise<unknown>;
  scan?(params: OperationParams, request: unknown): ColumnScan<unknown> | undefined;
  step(params: OperationParams, partials: unknown[], prior: { request: unknown; memo: unknown } | undefined, options: MergeOptions): StepOutcome<unknown, unknown, unknown>;
}

/** Erases an operation's types for the registry; the coordinator only hands each function what its own schemas produced. */
export function defineOperation<P extends { op: string }, Partial, Request, Memo, Result>(
  def: OperationDefinition<P, Partial, Request, Memo, Result>,
): RegisteredOperation {
  return def as unknown as RegisteredOperation;
}

/** A column name in a plan: any text a CSV header can hold, except control characters. */
export const columnName = z
  .string()
  .min(1)
  .max(256)
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { message: 'a column name may not contain control characters' });

/** `groupBy`: up to 4 distinct columns whose values form the groups. */
export const groupByParam = z
  .array(columnName)
  .max(4)
  .refine((a) => new Set(a).size === a.length, { message: 'groupBy names a column twice' })
  .optional();

/** A list of 1..64 distinct columns. */
export const columnList = z
  .array(columnName)
  .min(1)
  .max(64)
  .refine((a) => new Set(a).size === a.length, { message: 'columns names a column twice' });

/** A number that arrived from a client: finite. */
export const finite = z.number().refine(Number.isFinite, { message: 'not a finite number' });
/** A count that arrived from a client: a non-negative integer. */
export const countValue = z.number().int().nonnegative();
