/**
 * Datasources: files a client reads where they lie (CSV, TSV, Parquet), through DuckDB.
 *
 *   const source = await openDatasource(spec);      // one DuckDB database in memory, a view over the file
 *   checkColumns(source, planColumns(plan));          // COLUMN_NOT_FOUND / COLUMN_NOT_NUMERIC before any aggregate
 *   const rows = await source.query(`SELECT … FROM ${source.view}`);
 *   source.close();
 *
 *   await describeDatasource(spec)  →  { name, type, columns: [{ name, type, numeric }], rows }
 *
 * `describeDatasource` is what a workbench may be shown: the header's names, the types DuckDB
 * read, and the row count, never a value. Every failure to read is a MycelError
 * DATASOURCE_UNREADABLE whose message names the datasource (never its path on this machine),
 * the file line and the column where DuckDB says them, and never quotes a row.
 */
import { open, stat } from 'node:fs/promises';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { MycelError, isMycelError } from '../errors.js';
import type { LocalSource, SqlRow } from './operations/operation.js';
import { quoteIdent, quoteLiteral } from './sql.js';

export interface DatasourceSpec {
  /** The name plans use. */
  name: string;
  kind: 'file';
  type: 'csv' | 'tsv' | 'parquet';
  /** Where the file lies on the client. Never shown to the node or a workbench. */
  path: string;
  /** The project tokens that may run jobs on it (checked by the client runner, not here). */
  tokens: string[];
}

export interface ColumnInfo {
  name: string;
  /** DuckDB's type name (BIGINT, DOUBLE, VARCHAR, DATE, DECIMAL(10,2), …). */
  type: string;
  numeric: boolean;
}

export interface DatasourceDescription {
  name: string;
  type: DatasourceSpec['type'];
  columns: ColumnInfo[];
  rows: number;
}

/** An open datasource: the view, its columns, and a query runner that maps DuckDB's errors. */
export interface OpenDatasource extends LocalSource {
  readonly spec: DatasourceSpec;
  readonly columns: readonly ColumnInfo[];
  /**
   * Reads the named columns once into a table in memory and answers a source over it, so a
   * task of several operations parses the file once (the view re-reads the file at each query).
   */
  materialize(columns: readonly string[]): Promise<LocalSource>;
  close(): void;
}

export interface OpenOptions {
  /** DuckDB's worker threads (default: DuckDB's own, one per core). */
  threads?: number;
  /**
   * The CSV/TSV file's columns as an earlier open of the same, unchanged file read them: the
   * file is then read with these types and without DuckDB's sniffing (see `typedColumns`).
   * Ignored for Parquet. A caller passes only what `typedColumns` accepted.
   */
  columnTypes?: readonly ColumnInfo[];
}

/**
 * Column types a CSV/TSV file can be read with instead of sniffing it again, or undefined: only
 * types whose parsing the sniffer does not tune (no DATE/TIME/TIMESTAMP, whose formats it
 * detects), so the typed read gives the same values as the sniffed one.
 */
export function typedColumns(spec: Pick<DatasourceSpec, 'type'>, columns: readonly ColumnInfo[]): ColumnInfo[] | undefined {
  if (spec.type === 'parquet' || columns.length === 0) return undefined;
  if (!columns.every((c) => TYPED_READ.has(c.type) && !c.name.includes('\0'))) return undefined;
  return columns.map((c) => ({ ...c }));
}

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?)$/;
const TYPED_READ = new Set(['VARCHAR', 'BIGINT', 'DOUBLE', 'BOOLEAN']);
const VIEW = '__mycel_source';
const TABLE = '__mycel_data';

function reader(spec: DatasourceSpec, types?: readonly ColumnInfo[]): string {
  const path = quoteLiteral(spec.path);
  // Known types: no sniffing (a sample of the file read and tried against every type).
  const typed = types ? `, auto_detect = false, columns = {${types.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(c.type)}`).join(', ')}}` : '';
  switch (spec.type) {
    case 'csv':
      return `read_csv(${path}, header = true, delim = ',', quote = '"', escape = '"'${typed})`;
    case 'tsv':
      return `read_csv(${path}, header = true, delim = '\t', quote = '"', escape = '"'${typed})`;
    case 'parquet':
      return `read_parquet(${path})`;
  }
}

/** Counts the fields of one CSV line, minding double quotes. */
function fieldCount(line: string, delim: string): number {
  let fields = 1;
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === delim && !quoted) fields++;
  }
  return fields;
}

/** The first line (1-based) of a delimited file's first MiB whose field count differs from the header's, if any. */
async function firstRaggedLine(spec: DatasourceSpec): Promise<{ line: number; expected: number; found: number } | undefined> {
  if (spec.type === 'parquet') return undefined;
  const handle = await open(spec.path, 'r');
  try {
    const buffer = Buffer.alloc(1024 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const lines = buffer.subarray(0, bytesRead).toString('utf8').split(/\r?\n/);
    if (bytesRead === buffer.length) lines.pop();
    const delim = spec.type === 'tsv' ? '\t' : ',';
    const expected = fieldCount(lines[0] ?? '', delim);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      if (line === '' && i === lines.length - 1) break;
      const found = fieldCount(line, delim);
      if (found !== expected) return { line: i + 1, expected, found };
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

/** A line of DuckDB's message without the value it could not convert (a row's value, which must not leave the client). */
function withoutValue(line: string): string {
  const at = line.indexOf('Could not convert string');
  if (at < 0) return line;
  const target = /\sto\s+('[^']*'|[A-Z][A-Z0-9_]*)\s*$/.exec(line);
  return `${line.slice(0, at)}Could not convert a value${target ? ` to ${target[1]}` : ''}`;
}

/** DuckDB's error as DATASOURCE_UNREADABLE: the datasource's name for its path, no row values, the line and column where given. */
export function datasourceError(spec: DatasourceSpec, err: unknown): MycelError {
  if (isMycelError(err)) return err;
  const raw = err instanceof Error ? err.message : String(err);
  const text = raw.replaceAll(spec.path, spec.name);
  const lineMatch = /CSV Error on Line: (\d+)/.exec(text);
  const columnMatch = /Error when converting column "((?:[^"]|"")*)"/.exec(text);
  let reason = 'other';
  if (/No files found|Cannot open file|No such file/i.test(text)) reason = 'missing';
  else if (/Expected Number of Columns/.test(text)) reason = 'ragged';
  else if (/Could not convert|Conversion Error/.test(text)) reason = 'conversion';
  else if (/sniffing file|Invalid Input Error|IO Error|not a parquet file|Invalid Error/i.test(text)) reason = 'unreadable';
  const kept = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^(Original Line|LINE \d+:|\^|\* |Possible|file = |delimiter|quote|escape|new_line|header|skip_rows|comment|strict_mode|date_format|timestamp_format|null_padding|sample_size|ignore_errors|all_varchar|Column .* is being converted|This type was auto-detected|The search space|Delimiter Candidates|Quote\/Escape|Comment Candidates|Encoding)/.test(l))
    .slice(0, 4)
    .map(withoutValue)
    .join('; ');
  const details: Record<string, unknown> = { datasource: spec.name, reason };
  if (lineMatch) details.line = Number(lineMatch[1]);
  if (columnMatch) details.column = (columnMatch[1] as string).replaceAll('""', '"');
  return new MycelError('DATASOURCE_UNREADABLE', details, `datasource "${spec.name}": ${kept.slice(0, 500)}`);
}

async function readRows(connection: DuckDBConnection, sql: string): Promise<SqlRow[]> {
  const reader = await connection.runAndReadAll(sql);
  return reader.getRowObjectsJS() as SqlRow[];
}

/** Opens a datasource: checks the file is there, makes the view and reads its columns. */
export async function openDatasource(spec: DatasourceSpec, options: OpenOptions = {}): Promise<OpenDatasource> {
  if (/[*?[\]{}]/.test(spec.path)) {
    throw new MycelError('DATASOURCE_UNREADABLE', { datasource: spec.name, reason: 'unreadable' }, `datasource "${spec.name}": its path holds glob characters (* ? [ ] { }), which DuckDB would expand`);
  }
  try {
    const info = await stat(spec.path);
    if (!info.isFile()) throw new MycelError('DATASOURCE_UNREADABLE', { datasource: spec.name, reason: 'unreadable' }, `datasource "${spec.name}": its path is not a file`);
  } catch (err) {
    if (isMycelError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new MycelError('DATASOURCE_UNREADABLE', { datasource: spec.name, reason: code === 'ENOENT' ? 'missing' : 'unreadable' }, `datasource "${spec.name}": ${code === 'ENOENT' ? 'the file does not exist' : `the file cannot be read (${code ?? 'error'})`}`);
  }
  const instance = await DuckDBInstance.create(':memory:', options.threads === undefined ? {} : { threads: String(options.threads) });
  let connection: DuckDBConnection | undefined;
  const close = (): void => {
    connection?.closeSync();
    instance.closeSync();
  };
  try {
    connection = await instance.connect();
    const conn = connection;
    const types = options.columnTypes && spec.type !== 'parquet' && options.columnTypes.every((c) => TYPED_READ.has(c.type)) ? options.columnTypes : undefined;
    await conn.run(`CREATE VIEW ${quoteIdent(VIEW)} AS SELECT * FROM ${reader(spec, types)}`);
    const described = await readRows(conn, `DESCRIBE ${quoteIdent(VIEW)}`);
    const columns = described.map((r) => ({ name: String(r.column_name), type: String(r.column_type), numeric: NUMERIC.test(String(r.column_type)) }));
    const query = async (sql: string): Promise<SqlRow[]> => {
      try {
        return await readRows(conn, sql);
      } catch (err) {
        throw datasourceError(spec, err);
      }
    };
    const queryColumns = async (sql: string): Promise<unknown[][]> => {
      try {
        return (await conn.runAndReadAll(sql)).getColumnsJS() as unknown[][];
      } catch (err) {
        throw datasourceError(spec, err);
      }
    };
    return {
      spec,
      columns,
      view: quoteIdent(VIEW),
      query,
      queryColumns,
      async materialize(names: readonly string[]): Promise<LocalSource> {
        const list = names.length === 0 ? '1 AS __none' : [...new Set(names)].map(quoteIdent).join(', ');
        await query(`CREATE TABLE ${quoteIdent(TABLE)} AS SELECT ${list} FROM ${quoteIdent(VIEW)}`);
        return { view: quoteIdent(TABLE), query, queryColumns };
      },
      close,
    };
  } catch (err) {
    close();
    const mapped = datasourceError(spec, err);
    if (mapped.details?.reason === 'unreadable') {
      const ragged = await firstRaggedLine(spec).catch(() => undefined);
      if (ragged) {
        return Promise.reject(
          new MycelError(
            'DATASOURCE_UNREADABLE',
            { datasource: spec.name, reason: 'ragged', line: ragged.line },
            `datasource "${spec.name}": line ${ragged.line} has ${ragged.found} fields where the header has ${ragged.expected}`,
          ),
        );
      }
    }
    throw mapped;
  }
}

/** Refuses, before anything runs, a column the datasource lacks (COLUMN_NOT_FOUND) or a non-numeric one where numbers are needed (COLUMN_NOT_NUMERIC). */
export function checkColumns(source: Pick<OpenDatasource, 'spec' | 'columns'>, use: { numeric: readonly string[]; any: readonly string[] }): void {
  const byName = new Map(source.columns.map((c) => [c.name, c]));
  for (const name of [...use.numeric, ...use.any]) {
    if (!byName.has(name)) {
      throw new MycelError('COLUMN_NOT_FOUND', { column: name.slice(0, 256), datasource: source.spec.name }, `datasource "${source.spec.name}" has no column "${name.slice(0, 256)}"`);
    }
  }
  for (const name of use.numeric) {
    const column = byName.get(name)!;
    if (!column.numeric) {
      throw new MycelError('COLUMN_NOT_NUMERIC', { column: name, type: column.type, datasource: source.spec.name }, `column "${name}" of datasource "${source.spec.name}" is ${column.type}, not a number`);
    }
  }
}

/** The datasource's columns and row count; no value of any row. */
export async function describeDatasource(spec: DatasourceSpec, options: OpenOptions = {}): Promise<DatasourceDescription> {
  const source = await openDatasource(spec, options);
  try {
    const [row] = await source.query(`SELECT count(*) AS n FROM ${source.view}`);
    return { name: spec.name, type: spec.type, columns: source.columns.map((c) => ({ ...c })), rows: Number(row?.n ?? 0) };
  } finally {
    source.close();
  }
}
