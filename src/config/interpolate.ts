/**
 * `${VAR}` and `${VAR:-default}` inside YAML string values; `$${` is a literal `${`.
 * Like the shell, `:-` also applies when the variable is set but empty. Defaults are taken
 * literally (no nesting, no `}` inside), and anything else after `${` is an error, so a typo
 * never turns into silent text in a password or a URL.
 */

export type InterpolationResult =
  | { ok: true; value: string; /** whether a reference was substituted */ substituted: boolean }
  | { ok: false; reason: 'missing'; variable: string }
  | { ok: false; reason: 'malformed'; reference: string };

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

export function interpolate(text: string, env: Readonly<Record<string, string | undefined>>): InterpolationResult {
  let out = '';
  let substituted = false;
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (text.startsWith('${', i)) {
      const end = text.indexOf('}', i + 2);
      if (end < 0) return { ok: false, reason: 'malformed', reference: text.slice(i) };
      const body = text.slice(i + 2, end);
      const match = REFERENCE.exec(body);
      const fallback = match?.[2];
      if (!match || (fallback !== undefined && fallback.includes('${'))) {
        return { ok: false, reason: 'malformed', reference: text.slice(i, end + 1) };
      }
      const variable = match[1]!;
      const value = env[variable];
      if (fallback !== undefined && (value === undefined || value === '')) out += fallback;
      else if (value === undefined) return { ok: false, reason: 'missing', variable };
      else out += value;
      substituted = true;
      i = end + 1;
      continue;
    }
    out += text[i];
    i += 1;
  }
  return { ok: true, value: out, substituted };
}
