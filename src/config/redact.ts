import { CONFIG_KEYS, getPath } from './keys.js';
import { deepFreeze, type FrozenConfig } from './frozen.js';
import type { Config } from './schema.js';

/** What a secret is replaced with wherever the config is shown. */
export const REDACTED = '[redacted]';

/**
 * A URL with its password replaced: `postgres://me:[redacted]@db/x`, also `?password=…`.
 * Works on text the URL parser rejects (an unencoded `@` or `/` in a password) by taking
 * the user info up to the last `@` before the query string.
 */
export function redactUrl(url: string): string {
  let out = url;
  const schemeEnd = out.indexOf('://');
  if (schemeEnd >= 0) {
    const rest = out.slice(schemeEnd + 3);
    const queryStart = rest.search(/[?#]/);
    const authorityAndPath = queryStart < 0 ? rest : rest.slice(0, queryStart);
    const at = authorityAndPath.lastIndexOf('@');
    if (at >= 0) {
      const userInfo = authorityAndPath.slice(0, at);
      const colon = userInfo.indexOf(':');
      if (colon >= 0) {
        out = `${out.slice(0, schemeEnd + 3)}${userInfo.slice(0, colon + 1)}${REDACTED}${rest.slice(at)}`;
      }
    }
  }
  // libpq and ioredis also take the password as a query parameter.
  return out.replace(/([?&](?:password|pass|pwd)=)[^&#]*/gi, `$1${REDACTED}`);
}

function setAt(root: Record<string, unknown>, path: string, value: unknown): void {
  const segments = path.split('.');
  let current = root;
  for (const segment of segments.slice(0, -1)) {
    current = current[segment] as Record<string, unknown>;
  }
  current[segments[segments.length - 1]!] = value;
}

/** A deep-frozen copy of the config with every secret (see keys.ts) replaced by `[redacted]`. */
export function redactConfig(config: FrozenConfig | Config): FrozenConfig {
  const copy = structuredClone(config) as Record<string, unknown>;
  for (const key of CONFIG_KEYS) {
    const value = getPath(copy, key.path);
    if (typeof value !== 'string') continue;
    if (key.secret) setAt(copy, key.path, REDACTED);
    else if (key.urlCredentials) setAt(copy, key.path, redactUrl(value));
  }
  // network.servers is a list of objects; each one's password is a secret.
  const network = copy['network'] as { servers?: Array<Record<string, unknown>> } | undefined;
  if (network?.servers) network.servers = network.servers.map((server) => ({ ...server, url: typeof server['url'] === 'string' ? redactUrl(server['url']) : server['url'], password: REDACTED }));
  // compute.projects and compute.datasources hold project tokens: each one is a secret.
  const compute = copy['compute'] as { projects?: Array<Record<string, unknown>>; datasources?: Array<Record<string, unknown>> } | undefined;
  if (compute?.projects) compute.projects = compute.projects.map((project) => ({ ...project, token: REDACTED }));
  if (compute?.datasources) compute.datasources = compute.datasources.map((source) => ({ ...source, tokens: (source['tokens'] as unknown[]).map(() => REDACTED) }));
  return deepFreeze(copy) as FrozenConfig;
}
