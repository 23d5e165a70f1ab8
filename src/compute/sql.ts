/**
 * SQL text from data. Column names and file paths reach DuckDB only through these two
 * functions, so a name like `x"; DROP TABLE t; --` is one identifier, never SQL. Numbers go
 * through `doubleLiteral`, which DuckDB parses back to the same double.
 */

/** A quoted SQL identifier: wrapped in double quotes, inner double quotes doubled. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new Error('an identifier may not contain NUL');
  return `"${name.replaceAll('"', '""')}"`;
}

/** A quoted SQL string literal: wrapped in single quotes, inner single quotes doubled. */
export function quoteLiteral(text: string): string {
  if (text.includes('\0')) throw new Error('a literal may not contain NUL');
  return `'${text.replaceAll("'", "''")}'`;
}

/** A finite double as SQL that reads back bit for bit (the shortest round-trip text, parsed by DuckDB's strtod). */
export function doubleLiteral(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
  return `CAST(${quoteLiteral(String(value))} AS DOUBLE)`;
}
