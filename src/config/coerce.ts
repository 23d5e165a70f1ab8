import type { LeafKind } from './schema-walk.js';

/**
 * Turns a string from the environment, a flag or an interpolated YAML value into the type
 * the schema expects. Range and enum checks are left to the schema, so the messages for a
 * value are the same whatever its source.
 */
export type CoerceResult = { ok: true; value: unknown } | { ok: false; message: string };

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function coerceString(raw: string, kind: LeafKind | undefined): CoerceResult {
  switch (kind?.kind) {
    case 'integer':
    case 'number': {
      const text = raw.trim();
      if (!NUMBER.test(text)) return { ok: false, message: `expected a number, got ${JSON.stringify(raw)}` };
      return { ok: true, value: Number(text) };
    }
    case 'boolean': {
      const text = raw.trim().toLowerCase();
      if (text === 'true' || text === '1') return { ok: true, value: true };
      if (text === 'false' || text === '0') return { ok: true, value: false };
      return { ok: false, message: `expected true, false, 1 or 0, got ${JSON.stringify(raw)}` };
    }
    case 'map':
    case 'objects':
      return { ok: false, message: 'can only be set in a YAML file' };
    case 'list':
      return { ok: true, value: raw.split(',').map((item) => item.trim()).filter((item) => item !== '') };
    default:
      return { ok: true, value: raw };
  }
}
