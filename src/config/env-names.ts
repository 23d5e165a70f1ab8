import { CONFIG_KEYS } from './keys.js';

/**
 * Which `MYCEL_*` variables mean something, so that a misspelt one (`MYCEL_PROT`) is reported
 * instead of silently doing nothing.
 */

/**
 * Variables that are not settings but are read: the config file's path, and the CLI's remote
 * node and client-node password (`mycel --node URL …`, src/cli/remote-target.ts), and the
 * passwords for the source node of `mycel load --from` (src/cli/blob-target.ts).
 */
const OTHER_KNOWN = ['MYCEL_CONFIG', 'MYCEL_NODE_URL', 'MYCEL_NODE_PASSWORD', 'MYCEL_FROM_OWNER_PASSWORD', 'MYCEL_FROM_NODE_PASSWORD'] as const;

/** Prefixes left to other programs: the test suite's own variables (`MYCEL_TEST_DATABASE_URL`, …). */
export const EXEMPT_ENV_PREFIXES = ['MYCEL_TEST_'] as const;

/** Every variable name Mycel reads, mapped to the name to suggest for it (an alias → its current name). */
function knownNames(): Map<string, string> {
  const known = new Map<string, string>(OTHER_KNOWN.map((name) => [name, name]));
  for (const key of CONFIG_KEYS) {
    if (key.env === null) continue;
    known.set(key.env, key.env);
    for (const alias of key.envAliases) known.set(alias, key.env);
  }
  return known;
}

/** Levenshtein distance: the fewest single-character edits from `a` to `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** An unknown `MYCEL_*` variable and the known name closest to it. */
export interface UnknownEnvVariable {
  name: string;
  closest: string;
}

/** The `MYCEL_*` variables in `env` that Mycel does not read (empty ones too), sorted by name. */
export function unknownEnvVariables(env: Readonly<Record<string, string | undefined>>): UnknownEnvVariable[] {
  const known = knownNames();
  const out: UnknownEnvVariable[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('MYCEL_') || known.has(name)) continue;
    if (EXEMPT_ENV_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    let best = '';
    let bestDistance = Infinity;
    for (const [candidate, suggest] of known) {
      const distance = editDistance(name, candidate);
      if (distance < bestDistance) [best, bestDistance] = [suggest, distance];
    }
    out.push({ name, closest: best });
  }
  return out;
}

/** One warning line per unknown variable, for stderr. */
export function unknownEnvWarnings(env: Readonly<Record<string, string | undefined>>): string[] {
  return unknownEnvVariables(env).map(
    ({ name, closest }) => `warning: ${name} is not a Mycel setting and is ignored; did you mean ${closest}? (every variable: docs/config.md)`,
  );
}
