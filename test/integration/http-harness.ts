/**
 * Shared pieces of the HTTP tests (test/integration/http-*.test.ts): a node core on a test
 * storage backend with the HTTP app built on it, a logger whose lines the test can read, and a
 * table-driven scenario runner in the spirit of pocketbase's ApiScenario.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Registry } from 'prom-client';
import { configSchema, type ConfigInput } from '../../src/config/schema.js';
import type { NodeCore } from '../../src/domain/node-core.js';
import type { IdentityOptions } from '../../src/domain/node-identity.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { buildHttpApp, type HttpAppOptions } from '../../src/http/app.js';
import type { ActorResolver } from '../../src/http/auth.js';
import { createLogger } from '../../src/log.js';
import { NetworkNode } from '../../src/network/network-node.js';
import type { Config } from '../../src/config/index.js';
import { silentLog } from '../helpers/core.js';
import { openCoreFromConfig } from '../../src/node/assemble.js';
import type { Storage } from '../../src/storage/storage.js';
import type { StorageBackend, StorageHandle } from '../helpers/storage.js';

export const OWNER_PASSWORD = 'owner-secret-5f1c';
/** The public origin of the default test config (server.host 127.0.0.1, port 5103, http). */
export const ORIGIN = 'http://127.0.0.1:5103';

/**
 * A stand-in for the realtime layer's JWT resolver: `user.<id>` tokens are app users, so the
 * tests can drive the resolver seam and the domain's user permissions over HTTP.
 */
export const testUserResolver: ActorResolver = {
  name: 'test-user',
  async resolve(token) {
    return token.startsWith('user.') ? { kind: 'user', userId: token.slice('user.'.length) } : null;
  },
};

export interface Harness {
  readonly handle: StorageHandle;
  readonly core: NodeCore;
  readonly app: FastifyInstance;
  /** Every log line the app and core wrote (JSON strings). */
  readonly logs: string[];
  /** Logs in with the owner password; returns the session token. */
  login(): Promise<string>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  config?: ConfigInput;
  identity?: IdentityOptions;
  sessionMinutes?: number;
  /** Replaces parts of the core (e.g. `sessions` with a controllable clock, on `storage`). */
  patchCore?: (core: NodeCore, storage: Storage) => NodeCore;
  actorResolvers?: readonly ActorResolver[];
  isShuttingDown?: HttpAppOptions['isShuttingDown'];
  readinessChecks?: HttpAppOptions['readinessChecks'];
  changeStreamHeartbeatMs?: number;
  /**
   * Makes the node network the /api/v1/network routes use, on the harness's core (none by
   * default: they answer NETWORK_UNAVAILABLE). Started after the app is built, stopped before it closes.
   */
  network?: (core: NodeCore, config: Config) => NetworkNode;
}

/**
 * The config of a harness: `options.config`, with the identity and session length of the
 * options, and the `users` namespace the tests' app users write posts in (the domain's channel
 * policy follows the realtime namespaces, as in `mycel serve`).
 */
function harnessConfig(options: HarnessOptions) {
  const input = options.config ?? {};
  const identity = options.identity ?? { name: 'http-test', ownerPassword: OWNER_PASSWORD };
  return configSchema.parse({
    ...input,
    node: { ...input.node, name: identity.name },
    owner: {
      ...input.owner,
      ...(identity.ownerPassword !== undefined ? { password: identity.ownerPassword } : {}),
      ...(identity.remoteOwner ? { remoteNodeId: identity.remoteOwner.nodeId, remoteNodePassword: identity.remoteOwner.password } : {}),
    },
    server: { ...input.server, sessionMinutes: options.sessionMinutes ?? 60 },
    realtime: { ...input.realtime, namespaces: { users: {}, ...input.realtime?.namespaces } },
  });
}

/** Opens a fresh database on `backend`, a node core on it and the HTTP app; close() undoes all of it. */
export async function startHarness(backend: StorageBackend, options: HarnessOptions = {}): Promise<Harness> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') logs.push(line);
      done();
    },
  });
  const log = createLogger({ level: 'debug', destination: sink });
  const handle = await backend.create();
  let core: NodeCore | undefined;
  let network: NetworkNode | undefined;
  try {
    const config = harnessConfig(options);
    // The core as `mycel serve` opens it (the channel policy from the namespace settings), on the test storage.
    const opened = await openCoreFromConfig(config, log, { storage: handle.storage });
    core = options.patchCore ? options.patchCore(opened, handle.storage) : opened;
    network = options.network?.(core, config);
    const app = await buildHttpApp({
      config,
      core,
      log,
      metrics: new Registry(),
      actorResolvers: options.actorResolvers ?? [testUserResolver],
      ...(options.isShuttingDown ? { isShuttingDown: options.isShuttingDown } : {}),
      ...(options.readinessChecks ? { readinessChecks: options.readinessChecks } : {}),
      ...(options.changeStreamHeartbeatMs === undefined ? {} : { changeStreamHeartbeatMs: options.changeStreamHeartbeatMs }),
      ...(network ? { network } : {}),
    });
    await network?.start();
    const ready = core;
    return {
      handle,
      core: ready,
      app,
      logs,
      async login() {
        const res = await app.inject({ method: 'POST', url: '/api/v1/session', payload: { password: OWNER_PASSWORD } });
        assert.equal(res.statusCode, 201, res.body);
        return (res.json() as { token: string }).token;
      },
      async close() {
        try {
          await network?.stop();
          await app.close();
          await ready.close();
        } finally {
          await handle.cleanup();
        }
      },
    };
  } catch (err) {
    await network?.stop().catch(() => undefined);
    await core?.close().catch(() => undefined);
    await handle.cleanup();
    throw err;
  }
}

/** The node network as `mycel serve` makes it from the config (src/node/assemble.ts), for harnesses that stand for a served node. */
export function servedNetwork(core: NodeCore, config: Config): NetworkNode {
  return new NetworkNode({ core, settings: { ...config.network, enableWebsocket: config.server.enableWebsocket }, registry: new Registry(), log: silentLog });
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
export const cookie = (token: string): Record<string, string> => ({ cookie: `mycel_session=${token}` });

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** One row of an API scenario table. */
export interface Scenario<C> {
  name: string;
  method?: Method;
  url: string | ((ctx: C) => string);
  headers?: Record<string, string> | ((ctx: C) => Record<string, string>);
  /** A JSON body (serialised, with Content-Type application/json unless headers say otherwise); a function gets the context. */
  json?: unknown;
  /** A raw body, sent as is. */
  raw?: string | Buffer;
  expectStatus: number;
  /** The error code the body must carry; its registry status must equal expectStatus. */
  expectCode?: ErrorCode;
  check?: (res: LightMyRequestResponse, ctx: C) => void;
}

/** Stack frames (`    at fn (file:line:col)`) or file positions must never reach a client. */
export function assertNoInternals(body: string, where: string): void {
  assert.doesNotMatch(body, /\n\s+at\s/, `${where}: the body contains a stack trace`);
  assert.doesNotMatch(body, /\bat .*\(?(?:file:\/\/|\/)[^)]*:\d+:\d+\)?/, `${where}: the body contains a stack frame`);
  assert.doesNotMatch(body, /"stack"/, `${where}: the body contains a stack`);
}

/** Runs one scenario against the app and checks status, error code and body shape. */
export async function runScenario<C>(app: FastifyInstance, row: Scenario<C>, ctx: C): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { ...(typeof row.headers === 'function' ? row.headers(ctx) : (row.headers ?? {})) };
  let payload: string | Buffer | undefined;
  const json: unknown = typeof row.json === 'function' ? (row.json as (ctx: C) => unknown)(ctx) : row.json;
  if (json !== undefined) {
    payload = JSON.stringify(json);
    headers['content-type'] ??= 'application/json';
  } else if (row.raw !== undefined) {
    payload = row.raw;
  }
  const url = typeof row.url === 'function' ? row.url(ctx) : row.url;
  const res = await app.inject({ method: row.method ?? 'GET', url, headers, ...(payload === undefined ? {} : { payload }) });
  const where = `${row.name} (${row.method ?? 'GET'} ${url})`;
  assert.equal(res.statusCode, row.expectStatus, `${where}: status ${res.statusCode}, body ${res.body.slice(0, 500)}`);
  assertNoInternals(res.body, where);
  if (row.expectCode !== undefined) {
    assert.equal(ERROR_CODES[row.expectCode].status, row.expectStatus, `${where}: the table's status disagrees with the registry`);
    assert.match(String(res.headers['content-type']), /^application\/json/, `${where}: error bodies are JSON`);
    const body = res.json() as { error?: { code?: string; message?: string } };
    assert.equal(body.error?.code, row.expectCode, `${where}: body ${res.body.slice(0, 500)}`);
    assert.equal(typeof body.error?.message, 'string', `${where}: error.message`);
    assert.deepEqual(Object.keys(body), ['error'], `${where}: the error body has only "error"`);
  }
  row.check?.(res, ctx);
  return res;
}
