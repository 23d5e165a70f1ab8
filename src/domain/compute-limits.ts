import { canonicalJson } from '../lib/canonical-json.js';
import { MycelError } from '../errors.js';

/*
 * Bounds of the opaque JSON values of compute (plans, task inputs and outputs, results,
 * errors), measured as canonical JSON in UTF-8 bytes. They keep one change (and one replication
 * message) small; the compute service checks what the values mean.
 */

/** The default bound of one value: 1 MiB. */
export const DEFAULT_COMPUTE_VALUE_BYTES = 1024 * 1024;

/**
 * The bound of a job's result stored as a blob (docs/compute.md "Results"): 64 MiB of canonical
 * JSON. A result in the database (no blob store) keeps the 1 MiB bound of every value.
 */
export const MAX_RESULT_BLOB_BYTES = 64 * 1024 * 1024;

/** Checks that `value` is JSON (no undefined, functions, cycles) within `maxBytes`; returns it. */
export function checkComputeValue(field: string, value: unknown, maxBytes: number): unknown {
  let text: string;
  try {
    text = canonicalJson(value === undefined ? null : value);
  } catch (err) {
    throw new MycelError('VALIDATION_FAILED', { field, reason: 'must be a JSON value' }, `${field}: must be a JSON value (${(err as Error).message})`);
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) throw new MycelError('COMPUTE_VALUE_TOO_LARGE', { field, bytes, maxBytes }, `${field} is ${bytes} bytes as JSON, more than ${maxBytes}`);
  return JSON.parse(text) as unknown;
}

/** A compute name (project, datasource, client): as compute.projects / compute.datasources allow. */
export function checkComputeName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_.-]{1,200}$/.test(value)) {
    throw new MycelError('VALIDATION_FAILED', { field, reason: 'must be 1 to 200 letters, digits, `_`, `.` or `-`' }, `${field}: must be 1 to 200 letters, digits, \`_\`, \`.\` or \`-\``);
  }
  return value;
}
