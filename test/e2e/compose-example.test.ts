/**
 * deploy/compose.yaml, run as plain processes (no container engine needed): every Mycel service
 * of the example is started with exactly the environment the compose file gives it (values from
 * deploy/.env.example) and its mounted YAML file, on the test PostgreSQL and Redis, with a
 * round-robin TCP proxy standing in for nginx in front of the two public instances. Checks:
 * - the file is consistent: every `${VAR}` it uses is in .env.example, every MYCEL_* variable is
 *   a real setting, every `${VAR}` of a mounted YAML file is in that service's environment;
 * - the child (created with the id .env.example gives it, CHILD_NODE_ID: no `mycel init` first) links to the public node through
 *   the proxy, converges with it, and holds owner rights over it: the public node registered it
 *   as its owner's node, and a post the child writes into a public channel is forwarded there;
 * - the compute client joins with an invitation and its datasource is bound to the project;
 * - every process stops on SIGTERM with exit code 0.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { unknownEnvVariables } from '../../src/config/env-names.js';
import { TEST_REDIS_URL } from '../helpers/env.js';
import { startMycel, type ServingNode } from '../helpers/process.js';
import { processDatabase } from '../helpers/storage.js';
import { converged, OWNER_PASSWORD, rest, until } from '../helpers/network-process.js';

const deploy = fileURLToPath(new URL('../../deploy/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mycel-compose-'));
const procs: ServingNode[] = [];
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const p of procs.reverse()) await p.stop();
  for (const c of cleanups) await c();
  rmSync(dir, { recursive: true, force: true });
});

interface Service {
  image?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  profiles?: string[];
}
const compose = parse(readFileSync(join(deploy, 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
/** compose.yaml without its comment lines (they quote `${VAR}` as syntax). */
const composeText = readFileSync(join(deploy, 'compose.yaml'), 'utf8')
  .split('\n')
  .filter((l) => !l.trimStart().startsWith('#'))
  .join('\n');

/** .env.example as a map (KEY=value lines). */
const dotenv = new Map<string, string>(
  readFileSync(join(deploy, '.env.example'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

/** `${VAR}`, `${VAR:-default}` references in a text (compose's syntax, also Mycel's in YAML). */
function references(text: string): Array<{ name: string; fallback: string | undefined }> {
  return [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g)].map((m) => ({ name: m[1]!, fallback: m[2] }));
}

/** Expands compose-style references against `vars`, as `docker compose` does with .env. */
function expand(value: string, vars: Map<string, string>): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback: string | undefined) => {
    const v = vars.get(name);
    return v !== undefined && v !== '' ? v : (fallback ?? '');
  });
}

/** The services that run the Mycel image. */
const mycelServices = Object.entries(compose.services).filter(([, s]) => s.image?.includes('IMAGE'));

/** A service's mounted file for a container path (`./config/x.yaml:/etc/mycel/x.yaml:ro`). */
function mountedFile(service: Service, containerPath: string): string {
  const volume = (service.volumes ?? []).find((v) => v.split(':')[1] === containerPath);
  assert.ok(volume, `no volume mounts ${containerPath}`);
  return join(deploy, volume.split(':')[0]!);
}

describe('deploy/compose.yaml is consistent', () => {
  it('lists the public node (two instances), the child and the compute client', () => {
    assert.deepEqual(mycelServices.map(([name]) => name).sort(), ['child', 'compute-client', 'public-1', 'public-2']);
    assert.deepEqual(compose.services['public-1']!.environment, compose.services['public-2']!.environment);
  });

  it('every variable it uses is in .env.example', () => {
    const missing = [...new Set(references(composeText).map((r) => r.name))].filter((name) => !dotenv.has(name));
    assert.deepEqual(missing, []);
  });

  it('every MYCEL_* variable of a service is a Mycel setting', () => {
    for (const [name, service] of mycelServices) {
      const unknown = unknownEnvVariables(service.environment ?? {});
      assert.deepEqual(unknown, [], `${name}: ${JSON.stringify(unknown)}`);
    }
    // The variables operators set in .env: a MYCEL_* name there must be a setting too.
    assert.deepEqual(unknownEnvVariables(Object.fromEntries(dotenv)), []);
  });

  it("every ${VAR} in a service's mounted YAML is in that service's environment", () => {
    for (const [name, service] of mycelServices) {
      const env = service.environment ?? {};
      const file = mountedFile(service, env.MYCEL_CONFIG!);
      const missing = references(readFileSync(file, 'utf8'))
        .filter((r) => r.fallback === undefined && !(r.name in env))
        .map((r) => r.name);
      assert.deepEqual(missing, [], `${name} (${file})`);
    }
  });
});

/** A TCP proxy on port 0 that hands each connection to the next target in turn. */
async function roundRobinProxy(targets: () => number[]): Promise<{ url: string; server: Server; counts: number[] }> {
  let next = 0;
  const counts = [0, 0];
  const server = createServer((client) => {
    const ports = targets();
    const i = next++ % ports.length;
    counts[i]!++;
    const upstream = createConnection({ host: '127.0.0.1', port: ports[i]! });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, server, counts };
}

describe('deploy/compose.yaml as processes', { timeout: 180_000 }, () => {
  it('the child converges with the two-instance public node and has owner rights over it; the compute client joins', async () => {
    const { env: dbEnv, cleanup } = await processDatabase('postgres', join(dir, 'pg'), {});
    cleanups.push(cleanup);
    const ports: number[] = [];
    const proxy = await roundRobinProxy(() => ports);
    cleanups.push(() => new Promise((resolve) => proxy.server.close(() => resolve())));

    const vars = new Map(dotenv);
    // The test's owner password (the helpers log in with it) and the test's back-ends.
    for (const k of ['PUBLIC_OWNER_PASSWORD', 'CHILD_OWNER_PASSWORD', 'COMPUTE_CLIENT_OWNER_PASSWORD']) vars.set(k, OWNER_PASSWORD);
    const proxyPort = new URL(proxy.url).port;
    vars.set('PUBLIC_PORT', proxyPort);
    vars.set('PUBLIC_HOST', '127.0.0.1');

    /** The environment a service's container gets, mapped onto this machine. */
    const envOf = (name: string): Record<string, string> => {
      const service = compose.services[name]!;
      const env: Record<string, string> = { MYCEL_DATA_DIR: join(dir, name) };
      for (const [k, v] of Object.entries(service.environment ?? {})) {
        let value = expand(String(v), vars);
        if (value === 'http://proxy') value = proxy.url;
        if (k === 'MYCEL_CONFIG') value = mountedFile(service, value);
        if (k === 'MYCEL_DATABASE_URL') value = dbEnv.MYCEL_DATABASE_URL!;
        if (k === 'MYCEL_REDIS_URL') value = TEST_REDIS_URL;
        if (k === 'DATASETS_DIR') value = join(deploy, 'datasets');
        env[k] = value;
      }
      mkdirSync(env.MYCEL_DATA_DIR!, { recursive: true });
      return env;
    };

    // The child's id is chosen in .env, before it exists.
    const childId = vars.get('CHILD_NODE_ID');
    assert.match(childId ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    // `docker compose up -d`: two public instances, the proxy, the child.
    for (const name of ['public-1', 'public-2']) {
      const node = await startMycel(envOf(name));
      procs.push(node);
      ports.push(Number(new URL(node.url).port));
    }
    const publicNode = await rest<{ id: string }>(proxy.url, 'GET', '/api/v1/node');
    const registered = await rest<{ nodeId: string; asOwner: boolean; role: string }>(proxy.url, 'GET', `/api/v1/nodes/${childId}`);
    assert.equal(registered.status, 200, JSON.stringify(registered.body));
    assert.equal(registered.body.asOwner, true);

    const child = await startMycel(envOf('child'));
    procs.push(child);
    assert.equal((await rest<{ id: string }>(child.url, 'GET', '/api/v1/node')).body.id, childId, 'the child was created with the id .env gave it');

    const channel = `team:compose-${process.pid}`;
    const created = await rest<{ id: string }>(proxy.url, 'POST', '/api/v1/channels', { name: channel });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await rest(proxy.url, 'POST', `/api/v1/channels/${created.body.id}/posts`, { body: 'from the public node' })).status, 201);
    await converged([proxy.url, child.url], 1, 60_000);
    assert.ok(proxy.counts[0]! > 0 && proxy.counts[1]! > 0, `both instances served requests: ${proxy.counts}`);

    // Owner rights: the child writes into the public node's channel; the write is forwarded.
    const onChild = await until(
      'the channel on the child',
      async () => (await rest<{ items: Array<{ id: string; name: string }> }>(child.url, 'GET', `/api/v1/channels?name=${encodeURIComponent(channel)}`)).body.items[0],
      30_000,
    );
    const forwarded = await rest(child.url, 'POST', `/api/v1/channels/${onChild.id}/posts`, { body: 'from the child' });
    assert.equal(forwarded.status, 201, JSON.stringify(forwarded.body));
    const both = await converged([proxy.url, child.url], 2, 60_000);
    assert.equal(both.posts.count >= 2, true);
    assert.ok(publicNode.body.id);

    // Then `mycel compute invite` on the public node, then the compute client (profile compute).
    const invitation = await rest<{ secret: string }>(proxy.url, 'POST', '/api/v1/compute/invitations', {});
    assert.equal(invitation.status, 201, JSON.stringify(invitation.body));
    vars.set('COMPUTE_INVITATION', invitation.body.secret);
    const client = await startMycel(envOf('compute-client'));
    procs.push(client);
    const bound = await until(
      'the compute client to join with its datasource',
      async () => {
        const res = await fetch(`${proxy.url}/api/v1/compute/datasources`, { headers: { authorization: `Bearer ${vars.get('PROJECT_TOKEN')}` } });
        const text = await res.text();
        return res.status === 200 && text.includes('"example"') ? text : undefined;
      },
      60_000,
      250,
    );
    assert.match(bound, /"rows":10\b/);

    // SIGTERM: every process exits 0.
    for (const p of procs.splice(0).reverse()) {
      const { code, signal } = await p.stop('SIGTERM', 30_000);
      assert.equal(code, 0, `exit ${code} ${signal}`);
    }
  });
});
