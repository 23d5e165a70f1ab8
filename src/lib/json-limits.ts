/**
 * Limits on JSON a client sends, checked without recursion.
 *
 * JSON.parse accepts nesting of any depth, but JSON.stringify, the canonical JSON of the change
 * log and the drivers all recurse: a value nested a few thousand levels deep overflows the stack
 * where it is encoded, far from where it came in, and not at the same depth on every path. So
 * every value a client sends is held to one documented depth, well below any of those, when it
 * enters (docs/api.md, docs/protocol.md: "Limits").
 */

/**
 * The deepest nesting of arrays and objects a client may send: `[]` and `{}` are depth 1.
 * System.Text.Json's default; serde_json stops at 128 and Jackson at 1000, but no real document
 * or message needs more than a few levels, and a low limit leaves room for the envelopes the
 * server wraps around a value (a post inside a publication inside a change).
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The ceiling for values the server encodes itself (a post with its meta inside a publication,
 * a change payload): above anything valid input can build, below where a recursive encoder
 * overflows the stack. Only a bug can reach it.
 */
export const MAX_ENCODED_DEPTH = 512;

export interface JsonLimitOptions {
  /** Default MAX_JSON_DEPTH. */
  maxDepth?: number;
  /**
   * Also refuse strings (values and keys) that storage cannot keep exactly: with a NUL character
   * (PostgreSQL text cannot hold one) or a lone UTF-16 surrogate (UTF-8 cannot encode one, so
   * it would come back as U+FFFD and differ from what was hashed).
   */
  storableStrings?: boolean;
}

/** Where a value breaks a limit: `path` like `a.b[2]` (empty for the value itself), and why. */
export interface JsonProblem {
  path: string;
  reason: string;
}

// Node 20 has String.prototype.isWellFormed; the ES2023 lib the project builds against does not declare it.
const isWellFormed = (String.prototype as unknown as { isWellFormed: (this: string) => boolean }).isWellFormed;

/** Why a string cannot be stored as it is, or null. */
export function unstorableStringReason(s: string): string | null {
  if (s.includes('\0')) return 'must not contain the NUL character (U+0000)';
  if (!isWellFormed.call(s)) return 'must not contain a lone UTF-16 surrogate';
  return null;
}

interface Frame {
  readonly value: Record<string, unknown> | unknown[];
  /** Object keys; null for an array. */
  readonly keys: string[] | null;
  /** The next member to visit. */
  i: number;
}

const IDENTIFIER_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function pathOf(stack: readonly Frame[], prefix: string): string {
  let out = prefix;
  for (const frame of stack) {
    const at = frame.i - 1;
    if (frame.keys === null) out += `[${at}]`;
    else {
      const key = frame.keys[at]!;
      out += IDENTIFIER_RE.test(key) ? `${out === '' ? '' : '.'}${key}` : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/**
 * The first place where `value` breaks a limit, or null: nesting deeper than `maxDepth`, a
 * number that is not finite (JSON has no Infinity; `1e999` parses to it), a value JSON cannot
 * carry (a function, a symbol), and with `storableStrings` a string storage cannot keep. Walks
 * with an explicit stack, so any depth is safe to check. `prefix` starts the reported path.
 */
export function findJsonProblem(value: unknown, options: JsonLimitOptions = {}, prefix = ''): JsonProblem | null {
  const maxDepth = options.maxDepth ?? MAX_JSON_DEPTH;
  const storable = options.storableStrings === true;
  const stack: Frame[] = [];
  let current: unknown = value;
  for (;;) {
    const problem = scalarProblem(current, storable);
    if (problem !== null) return { path: pathOf(stack, prefix), reason: problem };
    if (typeof current === 'object' && current !== null) {
      if (stack.length >= maxDepth) return { path: pathOf(stack, prefix), reason: `nests deeper than ${maxDepth} levels` };
      if (Array.isArray(current)) stack.push({ value: current, keys: null, i: 0 });
      else stack.push({ value: current as Record<string, unknown>, keys: Object.keys(current), i: 0 });
    }
    // The next member to visit, popping finished containers.
    let found = false;
    while (!found && stack.length > 0) {
      const top = stack[stack.length - 1]!;
      if (top.keys === null) {
        const arr = top.value as unknown[];
        if (top.i < arr.length) {
          current = arr[top.i++];
          found = true;
        } else stack.pop();
      } else if (top.i < top.keys.length) {
        const key = top.keys[top.i++]!;
        if (storable) {
          const reason = unstorableStringReason(key);
          if (reason !== null) return { path: pathOf(stack, prefix), reason: `key ${reason}` };
        }
        current = (top.value as Record<string, unknown>)[key];
        found = true;
      } else stack.pop();
    }
    if (!found) return null;
  }
}

function scalarProblem(value: unknown, storable: boolean): string | null {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? null : 'must be a finite number';
    case 'string':
      return storable ? unstorableStringReason(value) : null;
    case 'function':
    case 'symbol':
      return 'is not a JSON value';
    default:
      return null;
  }
}
