/**
 * Node network tests with real `mycel serve` processes: node databases prepared in process
 * (identity, client-node registrations, seed content) through the domain, then served by
 * processes whose YAML lists the servers they connect to; REST helpers to compare them.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OWNER } from '../../src/domain/actor.js';
import { openNodeCore, type NodeCore } from '../../src/domain/node-core.js';
import { createStorage } from '../../src/storage/index.js';
import { silentLog } from './core.js';
import { until as pollUntil } from './network.js';
import { startMycel, type ServingNode } from './process.js';

export const OWNER_PASSWORD = 'network-owner-pw';
export const NODE_PASSWORD = 'network-node-pw';
export const API_KEY = 'network-api-key-0123456789abcdef0123456789';

/** Where a node's database is: an SQLite data dir, or a PostgreSQL URL. */
export interface NodeDb {
  dataDir: string;
  databaseUrl?: string;
}

/** Opens the node's core in process (creating the node on first use), runs `work`, closes it. */
export async function withCore<T>(db: NodeDb, name: string, work: (core: NodeCore) => Promise<T>): Promise<T> {
  const storage = createStorage({ url: db.databaseUrl ?? 'sqlite', dataDir: db.dataDir });
  const core = await openNodeCore(storage, { identity: { name, ownerPassword: OWNER_PASSWORD }, sessionMinutes: 60, log: silentLog });
  try {
    return await work(core);
  } finally {
    await core.close();
  }
}

/** Creates the node and returns its id. */
export function nodeIdOf(db: NodeDb, name: string): Promise<string> {
  return withCore(db, name, async (core) => core.node.id);
}

/** Registers `clientId` at the node of `db` as a client node with `role`. */
export function registerClient(db: NodeDb, name: string, clientId: string, role: 'child' | 'parent' | 'both' = 'child'): Promise<void> {
  return withCore(db, name, async (core) => {
    await core.clientNodes.register(OWNER, { nodeId: clientId, password: NODE_PASSWORD, role });
  });
}

export interface ServerSpec {
  url: string;
  role?: 'child' | 'parent' | 'both';
  transport?: 'auto' | 'websocket' | 'sse';
}

/** Starts `mycel serve` on the node's database, with a YAML naming its servers (password via ${VAR}). */
export async function serveNode(dir: string, db: NodeDb, name: string, servers: ServerSpec[] = [], env: Record<string, string> = {}, port?: string, nodeArgs: string[] = []): Promise<ServingNode> {
  const yaml = [
    'realtime:',
    '  namespaces:',
    '    notes:',
    '      persist: true',
    '      historySize: 100',
    'network:',
    servers.length === 0 ? '  servers: []' : '  servers:',
    ...servers.flatMap((s) => [`    - url: ${s.url}`, '      password: ${NET_NODE_PASSWORD}', `      role: ${s.role ?? 'child'}`, `      transport: ${s.transport ?? 'auto'}`]),
    '',
  ].join('\n');
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return startMycel(
    {
      MYCEL_DATA_DIR: db.dataDir,
      ...(db.databaseUrl ? { MYCEL_DATABASE_URL: db.databaseUrl } : {}),
      MYCEL_OWNER_PASSWORD: OWNER_PASSWORD,
      MYCEL_API_KEY: API_KEY,
      NET_NODE_PASSWORD: NODE_PASSWORD,
      // Short test sessions mean many log-ins from one address.
      MYCEL_LOGIN_ATTEMPTS_PER_MINUTE: '10000',
      ...env,
    },
    ['--config', file, ...(port ? ['--port', port] : [])],
    30_000,
    nodeArgs,
  );
}

/** An owner session token of a serving node. */
export async function ownerToken(url: string): Promise<string> {
  const res = await fetch(`${url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password: OWNER_PASSWORD }) });
  if (res.status !== 201) throw new Error(`owner login at ${url}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** Owner tokens by node URL, renewed when refused (tests may run with sessions of seconds). */
const tokens = new Map<string, string>();

/** A REST call as the owner; the parsed JSON body and status. */
export async function rest<T = unknown>(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  for (let attempt = 0; ; attempt++) {
    let token = tokens.get(url);
    if (token === undefined) {
      token = await ownerToken(url);
      tokens.set(url, token);
    }
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (res.status === 401 && attempt === 0) {
      tokens.delete(url);
      continue;
    }
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }
}

export interface Digest {
  digest: string;
  posts: { count: number };
  channels: { count: number };
  links: { count: number };
}

export async function digest(url: string): Promise<Digest> {
  const { status, body } = await rest<Digest>(url, 'GET', '/api/v1/digest');
  if (status !== 200) throw new Error(`digest at ${url}: ${status}`);
  return body;
}

/** Polls until `check` gives a value, every 100 ms (each check is a REST call to a process). */
export function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms: number, everyMs = 100): Promise<T> {
  return pollUntil(what, check, ms, everyMs);
}

/** Waits until the digests of the nodes are equal with at least `minPosts` posts; returns it. */
export async function converged(urls: string[], minPosts: number, ms: number): Promise<Digest> {
  let seen: Digest[] = [];
  try {
    return await until(
      `${urls.length} nodes to converge on ${minPosts} posts`,
      async () => {
        const digests = await Promise.all(urls.map((url) => digest(url)));
        seen = digests;
        const first = digests[0]!;
        return digests.every((d) => d.digest === first.digest) && first.posts.count >= minPosts ? first : undefined;
      },
      ms,
      250,
    );
  } catch (err) {
    // Say what differed: a count still growing (slow) or equal counts with other content (a bug).
    const last = seen.map((d, i) => `${urls[i]}: ${d.digest.slice(0, 16)}… channels=${d.channels.count} posts=${d.posts.count} links=${d.links.count}`).join('; ');
    throw new Error(`${(err as Error).message}; last seen: ${last || 'none'}`, { cause: err });
  }
}

/** Log lines of a process with `msg`, parsed. */
export function logLines(node: ServingNode, msg: string): Array<Record<string, unknown>> {
  return node.lines.filter((l) => l.includes(`"msg":"${msg}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The value of a metric line of /metrics whose labels contain `labels` (0 when absent). */
export async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}
