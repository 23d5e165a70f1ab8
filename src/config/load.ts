import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { MycelError } from '../errors.js';
import { coerceString } from './coerce.js';
import { finishComputeStyle, renameComputeStyleKeys, type ComputeStyleProblem } from './compute-style.js';
import { postgresUrlProblem } from './database-url.js';
import { interpolate } from './interpolate.js';
import { CONFIG_KEYS, flagAttribute, flagName } from './keys.js';
import { deepFreeze, type FrozenConfig } from './frozen.js';
import { configSchema, type Config } from './schema.js';
import { leafKind, objectKeys, schemaAt } from './schema-walk.js';
import { secretProblems } from './secret-rules.js';

export { deepFreeze, type FrozenConfig } from './frozen.js';

/**
 * Builds the one configuration a process runs with. Layers, lowest first: schema defaults,
 * the YAML file (`--config` or `MYCEL_CONFIG`), `MYCEL_*` environment variables, CLI flags.
 * The result is validated as a whole and deep-frozen, so nothing can change it after start-up.
 */

/** One reason the configuration is not valid. */
export interface ConfigIssue {
  /** Dotted path of the setting, e.g. `server.port`. */
  key: string;
  message: string;
  /** Where the value came from: `file /etc/mycel.yaml`, `env MYCEL_PORT`, `flag --port`, `default`. */
  source: string;
}

export interface LoadConfigOptions {
  /** Parsed CLI options by commander attribute name (`port`, `dataDir`, …, and `config`). */
  flags?: Readonly<Record<string, unknown>>;
  /** Environment; process.env if omitted. Also the source of `${VAR}` in the YAML file. */
  env?: Readonly<Record<string, string | undefined>>;
  /** YAML file; wins over `flags.config` and `MYCEL_CONFIG`. */
  configFile?: string;
  /** Directory a relative config file path starts from; process.cwd() if omitted. */
  cwd?: string;
}

type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Sets a dotted path, creating (or replacing non-object) parents: a higher layer wins. */
function setPath(root: PlainObject, path: string, value: unknown): void {
  const segments = path.split('.');
  let current = root;
  for (const segment of segments.slice(0, -1)) {
    const next = current[segment];
    if (!isPlainObject(next)) {
      const created: PlainObject = {};
      current[segment] = created;
      current = created;
    } else {
      current = next;
    }
  }
  current[segments[segments.length - 1]!] = value;
}


function describeIssues(issues: readonly ConfigIssue[]): string {
  return `The configuration is not valid: ${issues.map((i) => `${i.key} (${i.source}): ${i.message}`).join('; ')}`;
}

function invalid(issues: ConfigIssue[]): MycelError {
  return new MycelError('CONFIG_INVALID', { issues }, describeIssues(issues));
}

/** Which config file to read, if any. */
function chooseConfigFile(options: LoadConfigOptions, env: Readonly<Record<string, string | undefined>>): string | undefined {
  const fromFlag = options.flags?.config;
  const chosen = options.configFile ?? (typeof fromFlag === 'string' ? fromFlag : undefined) ?? env.MYCEL_CONFIG;
  return chosen === undefined || chosen === '' ? undefined : chosen;
}

/** Reads and parses the YAML file; interpolates `${VAR}`; records where each leaf came from. */
function readConfigFile(
  file: string,
  env: Readonly<Record<string, string | undefined>>,
  sources: Map<string, string>,
  issues: ConfigIssue[],
): PlainObject {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new MycelError('CONFIG_FILE_UNREADABLE', { file, reason }, `Cannot read the configuration file ${file}: ${reason}`, { cause: err });
  }
  // uniqueKeys: a key given twice is a mistake, not "the last one wins".
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const [start] = yamlError.linePos ?? [];
    // The first line of a pretty error reads "<what> at line L, column C:"; a code frame follows.
    const reason = (yamlError.message.split('\n')[0] ?? yamlError.message).replace(/ at line \d+, column \d+:?$/, '');
    const where = start ? ` at line ${start.line}, column ${start.col}` : '';
    throw new MycelError(
      'CONFIG_FILE_UNREADABLE',
      { file, reason, ...(start ? { line: start.line, column: start.col } : {}) },
      `The configuration file ${file} is not valid YAML${where}: ${reason}`,
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new MycelError('CONFIG_FILE_UNREADABLE', { file, reason }, `The configuration file ${file} is not valid YAML: ${reason}`, { cause: err });
  }
  const source = `file ${file}`;
  if (data === null || data === undefined) return {};
  if (!isPlainObject(data)) {
    issues.push({ key: '(top level)', message: `the file must hold a mapping of settings, not ${Array.isArray(data) ? 'a list' : typeof data}`, source });
    return {};
  }

  // A file in the compute-style shape: its keys become the settings they are (compute-style.ts).
  const translation: ComputeStyleProblem[] = [];
  const renames = renameComputeStyleKeys(data, translation);
  const sourceFor = (dotted: string): string => {
    for (const [to, from] of renames.writtenAs) {
      if (dotted === to || dotted.startsWith(`${to}.`)) return `${source}, written as ${from}${dotted.slice(to.length)}`;
    }
    return source;
  };

  const walk = (value: unknown, path: string[]): unknown => {
    const dotted = path.join('.');
    // Every node, not only leaves: an issue about a section or an unknown key finds its source.
    if (path.length > 0) sources.set(dotted, sourceFor(dotted));
    if (isPlainObject(value)) {
      // A fresh null-prototype-free copy: `__proto__` stays an ordinary (unknown) key.
      const out: PlainObject = {};
      for (const [k, v] of Object.entries(value)) {
        Object.defineProperty(out, k, { value: walk(v, [...path, k]), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, String(i)]));
    if (typeof value !== 'string') return value;
    const result = interpolate(value, env);
    if (!result.ok) {
      if (result.reason === 'missing') {
        throw new MycelError(
          'CONFIG_ENV_MISSING',
          { variable: result.variable, file, key: dotted },
          `Environment variable ${result.variable} is not set but ${file} uses it (at ${dotted}); set it, or write \${${result.variable}:-default}`,
        );
      }
      issues.push({ key: dotted, message: `${JSON.stringify(result.reference)} is not a valid reference: write \${NAME} or \${NAME:-default}, or $\${ for a literal \${`, source });
      return value;
    }
    if (!result.substituted) return result.value;
    // `port: ${PORT}` yields the string "8080"; give it the type the schema expects.
    const schema = schemaAt(configSchema, path);
    const coerced = coerceString(result.value, schema ? leafKind(schema) : undefined);
    if (!coerced.ok) {
      issues.push({ key: dotted, message: coerced.message, source: sourceFor(dotted) });
      return result.value;
    }
    return coerced.value;
  };
  const walked = walk(data, []) as PlainObject;
  finishComputeStyle(walked, renames, translation);
  for (const problem of translation) issues.push({ ...problem, source });
  return walked;
}

/** Messages for schema issues, with unknown keys split into one issue each. */
function schemaIssues(error: z.ZodError, sources: Map<string, string>): ConfigIssue[] {
  const sourceOf = (path: string): string => {
    const segments = path.split('.');
    for (let n = segments.length; n > 0; n--) {
      const found = sources.get(segments.slice(0, n).join('.'));
      if (found) return found;
    }
    return 'default';
  };
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const parent = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      const shape = schemaAt(configSchema, parent);
      const known = shape ? objectKeys(shape) : [];
      const hint = known.length > 0 ? `; known keys here: ${known.join(', ')}` : '';
      for (const key of issue.keys) {
        const path = [...parent, key].join('.');
        out.push({ key: path, message: `unknown key${hint}`, source: sourceOf(path) });
      }
      continue;
    }
    // An element of a list setting is reported on the setting, with the element's position.
    const index = parent.length > 0 && /^\d+$/.test(parent[parent.length - 1]!) ? Number(parent.pop()) : undefined;
    const path = parent.join('.') || '(top level)';
    const message = index === undefined ? issue.message : `item ${index + 1}: ${issue.message}`;
    out.push({ key: path, message, source: sourceOf(path) });
  }
  return out;
}

/**
 * Loads, merges, validates and deep-freezes the configuration.
 * Throws MycelError CONFIG_FILE_UNREADABLE, CONFIG_ENV_MISSING or CONFIG_INVALID.
 */
export function loadConfig(options: LoadConfigOptions = {}): FrozenConfig {
  const env = options.env ?? process.env;
  const flags = options.flags ?? {};
  const sources = new Map<string, string>();
  const issues: ConfigIssue[] = [];

  const chosen = chooseConfigFile(options, env);
  const file = chosen === undefined ? undefined : resolve(options.cwd ?? process.cwd(), chosen);
  const merged: PlainObject = file === undefined ? {} : readConfigFile(file, env, sources, issues);

  for (const key of CONFIG_KEYS) {
    if (key.env === null) continue;
    // Empty counts as unset, as in `MYCEL_PORT= mycel serve` or an empty compose variable.
    const given = [key.env, ...key.envAliases].filter((name) => env[name] !== undefined && env[name] !== '');
    const name = given[0];
    if (name === undefined) continue;
    const raw = env[name]!;
    const source = `env ${name}`;
    const conflicting = given.filter((other) => env[other] !== raw);
    if (conflicting.length > 0) {
      issues.push({ key: key.path, message: `${name} and ${conflicting.join(', ')} are both set, to different values; keep only ${key.env}`, source });
      sources.set(key.path, source);
      continue;
    }
    const coerced = coerceString(raw, key.type);
    if (coerced.ok) setPath(merged, key.path, coerced.value);
    else issues.push({ key: key.path, message: coerced.message, source });
    sources.set(key.path, source);
  }

  for (const key of CONFIG_KEYS) {
    const attribute = flagAttribute(key);
    if (attribute === null) continue;
    const raw = flags[attribute];
    if (raw === undefined) continue;
    const source = `flag ${flagName(key)}`;
    const coerced = typeof raw === 'string' ? coerceString(raw, key.type) : { ok: true as const, value: raw };
    if (coerced.ok) setPath(merged, key.path, coerced.value);
    else issues.push({ key: key.path, message: coerced.message, source });
    sources.set(key.path, source);
  }

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    // A value that failed coercion is also the wrong type for the schema: report it once.
    const reported = new Set(issues.map((i) => i.key));
    issues.push(...schemaIssues(parsed.error, sources).filter((i) => !reported.has(i.key)));
  }
  if (issues.length > 0 || !parsed.success) throw invalid(issues);

  const config = parsed.data;
  const sourceOf = (path: string) => sources.get(path) ?? 'default';
  const kind = databaseKindOf(config.database.url);
  if (kind === undefined) {
    issues.push({
      key: 'database.url',
      message: 'must be `sqlite`, `sqlite:<file>`, `:memory:` or a postgres:// (postgresql://) URL',
      source: sourceOf('database.url'),
    });
  }
  const urlProblem = kind === 'postgres' ? postgresUrlProblem(config.database.url) : undefined;
  if (urlProblem) issues.push({ key: 'database.url', message: urlProblem, source: sourceOf('database.url') });
  for (const problem of secretProblems(config)) issues.push({ ...problem, source: sourceOf(problem.key) });
  const origin = originProblem(config);
  if (origin) {
    issues.push({ key: origin.key, message: origin.message, source: sourceOf(origin.key) });
  }
  if (issues.length > 0) throw invalid(issues);
  return deepFreeze(config);
}

/** Where the database lives, from `database.url`. */
export type DatabaseKind = 'sqlite' | 'memory' | 'postgres';

function databaseKindOf(url: string): DatabaseKind | undefined {
  if (url === 'sqlite' || (url.startsWith('sqlite:') && url.length > 'sqlite:'.length)) return 'sqlite';
  if (url === ':memory:') return 'memory';
  if (/^postgres(ql)?:\/\//i.test(url)) return 'postgres';
  return undefined;
}

/** Which storage `database.url` selects: `sqlite` (file in the data dir, or `sqlite:<file>`), `memory`, or `postgres`. */
export function databaseKind(config: FrozenConfig): DatabaseKind {
  const kind = databaseKindOf(config.database.url);
  // loadConfig has checked the URL; a hand-built config may not have been.
  if (kind === undefined) {
    throw new MycelError('CONFIG_INVALID', {
      issues: [{ key: 'database.url', message: 'must be `sqlite`, `:memory:` or a postgres:// URL', source: 'default' }],
    });
  }
  return kind;
}

/** The data directory as an absolute path (relative paths start at `cwd`, `~/` at the home dir). */
export function resolveDataDir(config: FrozenConfig, cwd: string = process.cwd()): string {
  const dir = config.node.dataDir;
  if (dir === '~') return homedir();
  if (dir.startsWith('~/')) return join(homedir(), dir.slice(2));
  return isAbsolute(dir) ? resolve(dir) : resolve(cwd, dir);
}

/** The blob store directory as an absolute path: `blobs.dir` (resolved like the data dir) or `<dataDir>/blobs`. */
export function resolveBlobsDir(config: FrozenConfig, cwd: string = process.cwd()): string {
  const dir = config.blobs.dir;
  if (dir === undefined) return join(resolveDataDir(config, cwd), 'blobs');
  if (dir === '~') return homedir();
  if (dir.startsWith('~/')) return join(homedir(), dir.slice(2));
  return isAbsolute(dir) ? resolve(dir) : resolve(cwd, dir);
}

function buildOrigin(config: FrozenConfig, boundPort?: number): { origin: string } | { key: string; message: string } {
  const { scheme } = config.server.publicUrl;
  const hostKey = config.server.publicUrl.host === undefined ? 'server.host' : 'server.publicUrl.host';
  const host = config.server.publicUrl.host ?? config.server.host;
  const port = config.server.publicUrl.port ?? boundPort ?? config.server.port;
  // An IPv6 literal needs brackets in a URL.
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  let url: URL;
  try {
    url = new URL(`${scheme}://${bracketed}:${port}`);
  } catch {
    return { key: hostKey, message: `${JSON.stringify(host)} is not a valid host for the public URL` };
  }
  // A "host" such as `example.com/x` or `user@example.com` parses, but not as just a host.
  if (url.pathname !== '/' || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    return { key: hostKey, message: `${JSON.stringify(host)} is not a valid host for the public URL` };
  }
  return { origin: url.origin };
}

function originProblem(config: FrozenConfig): { key: string; message: string } | undefined {
  const result = buildOrigin(config);
  return 'origin' in result ? undefined : result;
}

/**
 * The origin clients use to reach this node (`http://127.0.0.1:5103`; the port is left out
 * when it is the scheme's default), for links and the CSRF `Origin` check. `boundPort` is the
 * port the server actually got; it is used when server.port is 0 and no public port is set.
 */
export function publicUrl(config: FrozenConfig, boundPort?: number): string {
  const result = buildOrigin(config, config.server.port === 0 ? boundPort : undefined);
  if ('origin' in result) return result.origin;
  throw new MycelError('CONFIG_INVALID', { issues: [{ key: result.key, message: result.message, source: 'default' }] });
}
