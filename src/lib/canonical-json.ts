/**
 * Canonical JSON: object keys sorted by code unit, no white space, no undefined members.
 * Two nodes that hold the same value produce the same bytes, so a hash over it can be
 * checked anywhere. Non-finite numbers are refused rather than silently turned into null.
 * This runs once per change on the write path, so it builds one string without temporaries.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'bigint':
      return value.toString();
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          const item: unknown = value[i];
          out += item === undefined ? 'null' : canonicalJson(item);
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      // Objects this node builds mostly list their keys in order already: no sort then.
      for (let i = 1; i < keys.length; i++) {
        if (keys[i - 1]! > keys[i]!) {
          keys.sort();
          break;
        }
      }
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = obj[key];
        if (member === undefined) continue;
        out += first ? quotedKey(key) : `,${quotedKey(key)}`;
        out += canonicalJson(member);
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}

/** `"key":` for the keys met so far; a payload repeats the same few keys in every change. */
const quotedKeys = new Map<string, string>();
/** Keys come from other nodes too: beyond this many, they are quoted each time instead. */
const MAX_QUOTED_KEYS = 1024;

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = `${JSON.stringify(key)}:`;
    if (quotedKeys.size < MAX_QUOTED_KEYS) quotedKeys.set(key, quoted);
  }
  return quoted;
}
