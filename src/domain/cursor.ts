import { MycelError } from '../errors.js';

/** Opaque pagination cursors: base64url JSON, so clients cannot depend on their shape. */
export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Decodes a cursor and checks each field's type; anything else is BAD_CURSOR. */
export function decodeCursor<K extends string>(cursor: string, fields: Record<K, 'string' | 'number'>): Record<K, string | number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new MycelError('BAD_CURSOR');
  }
  if (parsed === null || typeof parsed !== 'object') throw new MycelError('BAD_CURSOR');
  const obj = parsed as Record<string, unknown>;
  for (const [key, type] of Object.entries(fields) as Array<[K, 'string' | 'number']>) {
    const v = obj[key];
    if (typeof v !== type || (type === 'number' && !Number.isSafeInteger(v))) throw new MycelError('BAD_CURSOR');
  }
  return obj as Record<K, string | number>;
}
