/**
 * Configuration files in the shape federated-compute users already write (`workdir`, `mode`,
 * `node.port`, `join`, `datasources`, `database.dialect`, …) load as they are: each such key
 * *is* a Mycel setting and is moved to it before validation (docs/config.md, "Compute-style
 * files"). The schema stays strict: a key that is neither a Mycel key nor one of these is
 * still an unknown key, named with its path.
 *
 * Two steps, because some values are only known after `${VAR}` interpolation:
 * - `renameComputeStyleKeys` (on the file as parsed): plain renames, so that interpolated
 *   values are coerced to the type of the setting they become;
 * - `finishComputeStyle` (after interpolation): `database.*` becomes `database.url`, an empty
 *   string means "not set", and a file in this shape without a database section gets an
 *   in-memory database, as its users expect (Mycel's own files keep the SQLite default).
 */

type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A key of the compute-style shape and the Mycel setting it is. */
export interface ComputeStyleKey {
  /** Where the file writes it, as YAML nesting: `node.port`. */
  from: string;
  /** The Mycel setting: `server.port`. */
  to: string;
}

/** Plain renames (the `database` section is translated as a whole, see DATABASE_KEYS). */
export const COMPUTE_STYLE_KEYS: readonly ComputeStyleKey[] = [
  { from: 'workdir', to: 'node.dataDir' },
  { from: 'mode', to: 'compute.mode' },
  { from: 'node.healthcheck', to: 'compute.healthcheckSeconds' },
  { from: 'node.heartbeat', to: 'compute.heartbeatSeconds' },
  { from: 'node.allow_resource_download', to: 'compute.allowResourceDownload' },
  { from: 'node.protocol', to: 'server.publicUrl.scheme' },
  { from: 'node.interface', to: 'server.host' },
  { from: 'node.url', to: 'server.publicUrl.host' },
  { from: 'node.port', to: 'server.port' },
  { from: 'node.token_projects_initial', to: 'compute.projects' },
  { from: 'join.first', to: 'compute.join.first' },
  { from: 'join.url', to: 'compute.join.url' },
  { from: 'join.invitation', to: 'compute.join.invitation' },
  { from: 'datasources', to: 'compute.datasources' },
];

/** Keys of a compute-style `database` section; together they make `database.url`. */
export const DATABASE_KEYS = ['dialect', 'host', 'port', 'username', 'password', 'scheme', 'memory'] as const;

/** A problem found while translating: the key as the file writes it, and why. */
export interface ComputeStyleProblem {
  key: string;
  message: string;
}

/** What the first step found: whether the file is in this shape, and where each setting came from. */
export interface ComputeStyleRenames {
  /** At least one compute-style key was present. */
  computeStyle: boolean;
  /** Mycel path → the path the file wrote it under (for messages that name the user's key). */
  writtenAs: Map<string, string>;
}

function getAt(root: PlainObject, path: string): { found: boolean; value?: unknown } {
  let current: unknown = root;
  for (const segment of path.split('.')) {
    if (!isPlainObject(current) || !Object.hasOwn(current, segment)) return { found: false };
    current = current[segment];
  }
  return { found: true, value: current };
}

function deleteAt(root: PlainObject, path: string): void {
  const segments = path.split('.');
  let current: unknown = root;
  for (const segment of segments.slice(0, -1)) {
    if (!isPlainObject(current)) return;
    current = current[segment];
  }
  if (isPlainObject(current)) delete current[segments[segments.length - 1]!];
}

function setAt(root: PlainObject, path: string, value: unknown): void {
  const segments = path.split('.');
  let current = root;
  for (const segment of segments.slice(0, -1)) {
    const next = Object.hasOwn(current, segment) ? current[segment] : undefined;
    if (isPlainObject(next)) {
      current = next;
    } else {
      const created: PlainObject = {};
      Object.defineProperty(current, segment, { value: created, enumerable: true, writable: true, configurable: true });
      current = created;
    }
  }
  Object.defineProperty(current, segments[segments.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
}

/** A section left empty by the renames (`join: {first: true}` → `join: {}`) is dropped. */
function dropIfEmpty(root: PlainObject, section: string): void {
  const { found, value } = getAt(root, section);
  if (found && isPlainObject(value) && Object.keys(value).length === 0) deleteAt(root, section);
}

function isComputeStyleDatabase(value: unknown): value is PlainObject {
  return isPlainObject(value) && DATABASE_KEYS.some((k) => Object.hasOwn(value, k));
}

/** A datasource as such files write it: `token` (one or a list) is `tokens`. */
function renameDatasourceTokens(list: unknown): unknown {
  if (!Array.isArray(list)) return list;
  return list.map((item: unknown) => {
    if (!isPlainObject(item) || !Object.hasOwn(item, 'token') || Object.hasOwn(item, 'tokens')) return item;
    const { token, ...rest } = item;
    return { ...rest, tokens: Array.isArray(token) ? token : [token] };
  });
}

/**
 * Step one, on the file as parsed (before interpolation): moves every compute-style key to
 * its Mycel setting. A key given both ways is a problem (keep one), never silently merged.
 */
export function renameComputeStyleKeys(data: PlainObject, problems: ComputeStyleProblem[]): ComputeStyleRenames {
  const writtenAs = new Map<string, string>();
  let computeStyle = false;
  for (const { from, to } of COMPUTE_STYLE_KEYS) {
    const source = getAt(data, from);
    if (!source.found) continue;
    computeStyle = true;
    if (getAt(data, to).found) {
      problems.push({ key: from, message: `is the same setting as \`${to}\`, which the file also sets; keep one` });
      continue;
    }
    deleteAt(data, from);
    setAt(data, to, from === 'datasources' ? renameDatasourceTokens(source.value) : source.value);
    writtenAs.set(to, from);
  }
  for (const section of ['node', 'join']) dropIfEmpty(data, section);
  if (isComputeStyleDatabase(data['database'])) computeStyle = true;
  return { computeStyle, writtenAs };
}

/** `""` is how such files say "not set". */
function given(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : String(value);
}

/** `database.*` of a compute-style file as a `database.url`, or a problem. */
function databaseUrl(section: PlainObject): { url: string } | { problem: ComputeStyleProblem } {
  if (Object.hasOwn(section, 'url')) {
    return { problem: { key: 'database.url', message: `is the same setting as \`database.${DATABASE_KEYS.filter((k) => Object.hasOwn(section, k)).join('`, `database.')}\`; keep one way of naming the database` } };
  }
  const memory = section['memory'];
  if (given(memory) && typeof memory !== 'boolean') return { problem: { key: 'database.memory', message: 'must be true or false' } };
  if (memory === true) return { url: ':memory:' };
  const dialect = given(section['dialect']) ? text(section['dialect']) : 'sqlite';
  if (dialect === 'sqlite') {
    // The database file: `host` names it; without one, Mycel's file in the data directory.
    return { url: given(section['host']) ? `sqlite:${text(section['host'])}` : 'sqlite' };
  }
  if (dialect !== 'postgresql' && dialect !== 'postgres') {
    return { problem: { key: 'database.dialect', message: `must be \`sqlite\` or \`postgresql\` (it is ${JSON.stringify(dialect)})` } };
  }
  if (!given(section['host'])) return { problem: { key: 'database.host', message: 'names the PostgreSQL server; it is required with dialect postgresql' } };
  const user = given(section['username']) ? encodeURIComponent(text(section['username'])) : '';
  const password = given(section['password']) ? `:${encodeURIComponent(text(section['password']))}` : '';
  const credentials = user === '' && password === '' ? '' : `${user}${password}@`;
  const host = text(section['host']);
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const port = given(section['port']) ? `:${text(section['port'])}` : '';
  const database = given(section['scheme']) ? `/${encodeURIComponent(text(section['scheme']))}` : '';
  return { url: `postgresql://${credentials}${bracketed}${port}${database}` };
}

/**
 * Step two, after interpolation: empty strings are unset, `database.*` becomes `database.url`,
 * a public URL written whole (`node.url: https://lab.example.org`) is split into its parts,
 * and a compute-style file without a database section gets `:memory:`.
 */
export function finishComputeStyle(data: PlainObject, renames: ComputeStyleRenames, problems: ComputeStyleProblem[]): void {
  for (const [to] of renames.writtenAs) {
    const { value } = getAt(data, to);
    if (value === '') deleteAt(data, to);
  }
  const publicHost = getAt(data, 'server.publicUrl.host');
  if (renames.writtenAs.has('server.publicUrl.host') && typeof publicHost.value === 'string' && publicHost.value.includes('://')) {
    try {
      const url = new URL(publicHost.value);
      setAt(data, 'server.publicUrl.host', url.hostname.replace(/^\[(.*)\]$/, '$1'));
      const scheme = url.protocol.replace(/:$/, '');
      if (getAt(data, 'server.publicUrl.scheme').found && getAt(data, 'server.publicUrl.scheme').value !== scheme) {
        problems.push({ key: 'node.url', message: `says ${scheme}, but node.protocol says otherwise; keep one` });
      } else {
        setAt(data, 'server.publicUrl.scheme', scheme);
      }
      if (url.port !== '') setAt(data, 'server.publicUrl.port', Number(url.port));
    } catch {
      problems.push({ key: 'node.url', message: `${JSON.stringify(publicHost.value)} is not a URL or a host name` });
    }
  }
  for (const section of ['server.publicUrl', 'compute.join']) dropIfEmpty(data, section);

  const database = data['database'];
  if (isComputeStyleDatabase(database)) {
    const result = databaseUrl(database);
    // Translated keys leave the section either way: a problem is reported once, as written.
    const rest = Object.fromEntries(Object.entries(database).filter(([k]) => !(DATABASE_KEYS as readonly string[]).includes(k)));
    if ('problem' in result) {
      problems.push(result.problem);
      data['database'] = rest;
    } else {
      data['database'] = { ...rest, url: result.url };
    }
  } else if (renames.computeStyle && database === undefined) {
    data['database'] = { url: ':memory:' };
  }
}
