import type { z } from 'zod';

/**
 * Reading the shape of the zod config schema: its leaves, and the type of a leaf. keys.ts
 * derives types and defaults from here instead of repeating them, load.ts uses it to coerce
 * environment strings, and keys.test.ts to check that the key table covers the schema.
 */

/** What a leaf holds, as far as coercing a string and documenting it goes. */
export type LeafKind =
  | { kind: 'string' }
  | { kind: 'integer' }
  | { kind: 'number' }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  /** A map keyed by name (e.g. realtime.namespaces): set as a whole, from YAML only. */
  | { kind: 'map' }
  /** A list of strings: a YAML sequence, or comma-separated in a variable or flag. */
  | { kind: 'list' }
  /** A list of objects (e.g. network.servers): set as a whole, from YAML only. */
  | { kind: 'objects' };

type AnySchema = z.core.$ZodType;

/** The schema under optional/default/prefault/nullable wrappers. */
function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  // Bounded: a schema nests only a handful of wrappers.
  for (let i = 0; i < 16; i++) {
    const def = current._zod.def as { type: string; innerType?: AnySchema };
    if (def.innerType && ['optional', 'default', 'prefault', 'nullable', 'readonly', 'nonoptional'].includes(def.type)) {
      current = def.innerType;
    } else {
      return current;
    }
  }
  return current;
}

function objectShape(schema: AnySchema): Record<string, AnySchema> | undefined {
  const inner = unwrap(schema);
  const def = inner._zod.def as { type: string; shape?: Record<string, AnySchema> };
  return def.type === 'object' ? def.shape : undefined;
}

/** The field names of an object schema (through wrappers); empty for anything else. */
export function objectKeys(schema: AnySchema): string[] {
  return Object.keys(objectShape(schema) ?? {});
}

/** Dotted paths of every leaf (anything that is not an object; maps count as one leaf). */
export function leafPaths(schema: AnySchema, prefix = ''): string[] {
  const shape = objectShape(schema);
  if (!shape) return [prefix];
  return Object.entries(shape).flatMap(([name, child]) => leafPaths(child, prefix ? `${prefix}.${name}` : name));
}

/**
 * The schema found at a path of segments, descending through objects and into the value
 * type of maps (so `realtime.namespaces.chat.historySize` resolves); undefined if none.
 */
export function schemaAt(schema: AnySchema, path: readonly string[]): AnySchema | undefined {
  let current: AnySchema = schema;
  for (const segment of path) {
    const inner = unwrap(current);
    const def = inner._zod.def as { type: string; shape?: Record<string, AnySchema>; valueType?: AnySchema };
    if (def.type === 'object' && def.shape) {
      // Own keys only: `constructor` or `__proto__` in a YAML file must not reach Object.prototype.
      const next = Object.hasOwn(def.shape, segment) ? def.shape[segment] : undefined;
      if (!next) return undefined;
      current = next;
    } else if (def.type === 'record' && def.valueType) {
      current = def.valueType;
    } else {
      return undefined;
    }
  }
  return current;
}

/** The kind of a leaf schema, or undefined for an object (not a leaf) or an unknown type. */
export function leafKind(schema: AnySchema): LeafKind | undefined {
  const inner = unwrap(schema);
  const def = inner._zod.def as { type: string; entries?: Record<string, string> };
  switch (def.type) {
    case 'string':
      return { kind: 'string' };
    case 'number':
      return (inner as unknown as z.ZodNumber).isInt ? { kind: 'integer' } : { kind: 'number' };
    case 'boolean':
      return { kind: 'boolean' };
    case 'enum':
      return { kind: 'enum', values: Object.values(def.entries ?? {}) };
    case 'record':
      return { kind: 'map' };
    case 'array': {
      const element = (inner._zod.def as { element?: AnySchema }).element;
      return element && objectShape(element) ? { kind: 'objects' } : { kind: 'list' };
    }
    default:
      return undefined;
  }
}
