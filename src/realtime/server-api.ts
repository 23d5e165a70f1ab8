/**
 * The server API, Centrifugo-compatible and transport-free: `(method, params) → {result} |
 * {error}`. The HTTP adapter (src/http/routes/realtime-api.ts) authenticates the caller with
 * the API key and maps URLs and bodies onto `call`, `batch` and `pipeline`; every Centrifugo
 * backend SDK (cent.js, pycent, gocent, …) speaks this shape.
 *
 * The API key is the authority: no client permission applies. Errors carry the protocol's
 * codes: 100 internal, 102 unknown channel, 104 method not found, 107 bad request (with what
 * is wrong in the message), 108 not available (e.g. presence off in the namespace), 112
 * unrecoverable position (history `since` with another epoch).
 *
 * Publishing into a `persist: true` namespace goes through the node's persisted path (a post
 * through the domain write path), so the reply comes after the commit, as for a client.
 */
import { checkIdempotencyKey, LIMITS } from '../domain/validation.js';
import type { Logger } from '../log.js';
import { asReplyError } from './backend-unavailable.js';
import type { PublishOptions } from './context.js';
import { DISCONNECT_RANGES, ERRORS, ReplyError } from './protocol/codes.js';
import { clientJsonProblem } from './protocol/data-limits.js';
import { wireClientInfo, wirePublication, type WireClientInfo, type WirePublication } from './protocol/frames.js';
import type { RealtimeNode } from './realtime-node.js';
import type { StreamPosition } from './types.js';

export const API_METHODS = [
  'publish',
  'broadcast',
  'subscribe',
  'unsubscribe',
  'disconnect',
  'refresh',
  'presence',
  'presence_stats',
  'history',
  'history_remove',
  'channels',
  'info',
] as const;

export type ApiMethod = (typeof API_METHODS)[number];

export interface ApiError {
  code: number;
  message: string;
}

/** A JSON object result. */
export type ApiResult = Record<string, unknown>;

export type ApiReply = { result: ApiResult } | { error: ApiError };

/** One reply of `/api/batch`: `{"<method>": result}` or `{"error": …}`. */
export type BatchReply = Record<string, ApiResult> | { error: ApiError };

export interface ServerApiOptions {
  log: Logger;
  /** How long a publish result is remembered under its idempotency_key (default 5 minutes). */
  idempotencyTtlMs?: number;
  /** Most idempotency keys remembered at once; the oldest go first (default 10,000). */
  idempotencyMaxKeys?: number;
}

type Params = Record<string, unknown>;

function isObject(v: unknown): v is Params {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(message: string): never {
  throw new ReplyError(ERRORS.badRequest, `bad request: ${message}`);
}

function str(p: Params, key: string, required: boolean): string | undefined {
  const v = p[key];
  if (v === undefined || v === null) {
    if (required) bad(`${key} is required`);
    return undefined;
  }
  if (typeof v !== 'string') bad(`${key} must be a string`);
  return v;
}

function requiredString(p: Params, key: string): string {
  const v = str(p, key, true)!;
  if (v === '') bad(`${key} is required`);
  return v;
}

function bool(p: Params, key: string): boolean {
  const v = p[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') bad(`${key} must be a boolean`);
  return v;
}

function int(p: Params, key: string, min: number): number | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) bad(`${key} must be an integer${min === 0 ? ' >= 0' : ''}`);
  return v;
}

function stringArray(p: Params, key: string): string[] | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) bad(`${key} must be an array of strings`);
  return v as string[];
}

function stringMap(p: Params, key: string): Record<string, string> | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string')) bad(`${key} must be an object of strings`);
  return v as Record<string, string>;
}

/** `data` (any JSON), or `b64data` holding JSON: this server speaks the JSON protocol only. */
function publicationData(p: Params): unknown {
  const data = rawPublicationData(p);
  const problem = clientJsonProblem(data, 'data');
  if (problem !== null) bad(problem);
  return data;
}

function rawPublicationData(p: Params): unknown {
  if (p.data !== undefined) return p.data;
  const b64 = str(p, 'b64data', false);
  if (b64 === undefined) bad('data is required');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64)) bad('b64data must be base64');
  try {
    return JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as unknown;
  } catch {
    bad('b64data must hold JSON (clients use the JSON protocol)');
  }
}

function publishOptions(p: Params): PublishOptions {
  const options: PublishOptions = {};
  const tags = stringMap(p, 'tags');
  if (tags) options.tags = tags;
  if (bool(p, 'skip_history')) options.skipHistory = true;
  return options;
}

/** `idempotency_key`: absent or "" = none; otherwise what the domain accepts as a key (107 if not). */
function idempotencyKey(p: Params): string | undefined {
  const key = str(p, 'idempotency_key', false);
  if (key === undefined || key === '') return undefined;
  try {
    return checkIdempotencyKey(key);
  } catch {
    bad(`idempotency_key must be 1 to ${LIMITS.idempotencyKeyChars} printable ASCII characters without spaces`);
  }
}

type PositionResult = { offset?: number; epoch?: string };

export class ServerApi {
  readonly #node: RealtimeNode;
  readonly #log: Logger;
  readonly #idempotencyTtlMs: number;
  readonly #idempotencyMaxKeys: number;
  /** `channel \0 key` → the publish in flight or its result, with its expiry (insertion order = age). */
  readonly #idempotent = new Map<string, { expiresAt: number; result: Promise<PositionResult> }>();

  constructor(node: RealtimeNode, options: ServerApiOptions) {
    this.#node = node;
    this.#log = options.log.child({ module: 'server-api' });
    this.#idempotencyTtlMs = options.idempotencyTtlMs ?? 5 * 60_000;
    this.#idempotencyMaxKeys = options.idempotencyMaxKeys ?? 10_000;
  }

  /** Whether `method` is a server API method. */
  static isMethod(method: string): method is ApiMethod {
    return (API_METHODS as readonly string[]).includes(method);
  }

  /** Runs one method. Never throws: every failure is an `{error}` reply. */
  async call(method: string, params: unknown): Promise<ApiReply> {
    try {
      if (!ServerApi.isMethod(method)) throw new ReplyError(ERRORS.methodNotFound);
      if (params !== undefined && params !== null && !isObject(params)) bad('params must be a JSON object');
      return { result: await this.#run(method, params ?? {}) };
    } catch (err) {
      return { error: this.#toError(err, method) };
    }
  }

  /**
   * `/api/batch`: `{"commands":[{"publish":{..}}, {"method":"info","params":{}}, …], "parallel"?}`
   * → `{"replies":[{"publish":{..}}, {"error":{..}}, …]}`, one reply per command, in order.
   * Commands run one after another unless `parallel` is true.
   */
  async batch(body: unknown): Promise<ApiReply> {
    if (!isObject(body)) return { error: { code: ERRORS.badRequest.code, message: 'bad request: the body must be a JSON object' } };
    const { commands, parallel } = body;
    if (!Array.isArray(commands)) return { error: { code: ERRORS.badRequest.code, message: 'bad request: commands must be an array' } };
    if (parallel !== undefined && typeof parallel !== 'boolean') {
      return { error: { code: ERRORS.badRequest.code, message: 'bad request: parallel must be a boolean' } };
    }
    const one = async (command: unknown): Promise<BatchReply> => {
      const parsed = parseBatchCommand(command);
      if ('error' in parsed) return parsed;
      const reply = await this.call(parsed.method, parsed.params);
      return 'error' in reply ? reply : { [parsed.method]: reply.result };
    };
    let replies: BatchReply[];
    if (parallel) replies = await Promise.all(commands.map(one));
    else {
      replies = [];
      for (const command of commands) replies.push(await one(command));
    }
    return { result: { replies } };
  }

  /**
   * The legacy pipeline form (`POST /api`, still used by cent.js `pipeline()`): one
   * `{"method","params"}` object per line in, one `{"result"}`/`{"error"}` per line out, in
   * order. Blank lines are skipped; a line that is not such an object gets an error reply.
   */
  async pipeline(body: string): Promise<ApiReply[]> {
    const replies: ApiReply[] = [];
    for (const raw of body.split('\n')) {
      const line = raw.trim();
      if (line === '') continue;
      let command: unknown;
      try {
        command = JSON.parse(line);
      } catch {
        replies.push({ error: { code: ERRORS.badRequest.code, message: 'bad request: malformed JSON' } });
        continue;
      }
      if (!isObject(command) || typeof command.method !== 'string') {
        replies.push({ error: { code: ERRORS.badRequest.code, message: 'bad request: a command is {"method": string, "params": object}' } });
        continue;
      }
      replies.push(await this.call(command.method, command.params));
    }
    return replies;
  }

  #toError(failure: unknown, method: string): ApiError {
    const err = asReplyError(failure);
    if (err instanceof ReplyError) return { code: err.code, message: err.message };
    // Back-end failures (Bus, stores, database): the caller may retry.
    this.#log.error({ err, method }, 'server API method failed');
    return { code: ERRORS.internal.code, message: ERRORS.internal.message };
  }

  async #run(method: ApiMethod, p: Params): Promise<ApiResult> {
    return this.#methods[method](p);
  }

  /** One handler per method, as ClientConnection has one per client command. */
  readonly #methods: { readonly [M in ApiMethod]: (p: Params) => Promise<ApiResult> } = {
    publish: async (p) => {
      const channel = requiredString(p, 'channel');
      const data = publicationData(p);
      return this.#publish(channel, data, publishOptions(p), idempotencyKey(p));
    },
    broadcast: async (p) => {
      const channels = stringArray(p, 'channels');
      if (!channels || channels.length === 0) bad('channels is required');
      const data = publicationData(p);
      const options = publishOptions(p);
      const key = idempotencyKey(p);
      const responses = await Promise.all(
        channels.map(async (channel) => {
          try {
            return { result: await this.#publish(channel, data, options, key) };
          } catch (err) {
            return { error: this.#toError(err, 'broadcast') };
          }
        }),
      );
      return { responses };
    },
    subscribe: async (p) => {
      const { user, client } = target(p);
      await this.#node.subscribeUser(user, requiredString(p, 'channel'), client);
      return {};
    },
    unsubscribe: async (p) => {
      const { user, client } = target(p);
      await this.#node.unsubscribeUser(user, requiredString(p, 'channel'), client);
      return {};
    },
    disconnect: async (p) => {
      const { user, client } = target(p);
      const whitelist = stringArray(p, 'whitelist');
      const disconnect = disconnectParam(p);
      await this.#node.disconnectUser(user, {
        ...(client !== undefined ? { client } : {}),
        ...(whitelist ? { whitelist } : {}),
        ...(disconnect ? { disconnect } : {}),
      });
      return {};
    },
    refresh: async (p) => {
      const { user, client } = target(p);
      const expireAt = int(p, 'expire_at', 0);
      await this.#node.refreshUser(user, {
        ...(client !== undefined ? { client } : {}),
        ...(bool(p, 'expired') ? { expired: true } : {}),
        ...(expireAt !== undefined ? { expireAt } : {}),
      });
      return {};
    },
    presence: async (p) => {
      const presence = await this.#node.presence(requiredString(p, 'channel'));
      const out: Record<string, WireClientInfo> = {};
      for (const [client, info] of Object.entries(presence)) out[client] = wireClientInfo(info);
      return { presence: out };
    },
    presence_stats: async (p) => {
      const stats = await this.#node.presenceStats(requiredString(p, 'channel'));
      return { num_clients: stats.numClients, num_users: stats.numUsers };
    },
    history: async (p) => {
      const channel = requiredString(p, 'channel');
      const limit = int(p, 'limit', Number.MIN_SAFE_INTEGER);
      const since = sinceParam(p);
      const result = await this.#node.history(channel, {
        ...(limit !== undefined ? { limit } : {}),
        ...(since ? { since } : {}),
        ...(bool(p, 'reverse') ? { reverse: true } : {}),
      });
      const publications: WirePublication[] = result.publications.map(wirePublication);
      return { publications, epoch: result.position.epoch, offset: result.position.offset };
    },
    history_remove: async (p) => {
      await this.#node.removeHistory(requiredString(p, 'channel'));
      return {};
    },
    channels: async (p) => {
      const pattern = str(p, 'pattern', false);
      const channels: Record<string, { num_clients: number }> = {};
      for (const [name, c] of Object.entries(await this.#node.clusterChannels(pattern || undefined))) channels[name] = { num_clients: c.numClients };
      return { channels };
    },
    info: async () => ({
      nodes: this.#node.info().nodes.map((n) => ({
        uid: n.uid,
        name: n.name,
        version: n.version,
        num_clients: n.numClients,
        num_users: n.numUsers,
        num_channels: n.numChannels,
        num_subs: n.numSubs,
        uptime: n.uptime,
      })),
    }),
  };

  /**
   * Publishes once per (channel, idempotency key); later calls get the first result. In a
   * persisted namespace the key is stored with the post, in its transaction: exactly-once
   * across restarts and instances. Elsewhere a publication is not stored, so the key lives in
   * this instance's memory only, for the TTL.
   */
  #publish(channel: string, data: unknown, options: PublishOptions, key: string | undefined): Promise<PositionResult> {
    if (key === undefined || key === '') return this.#node.publish(channel, data, options);
    if (this.#node.resolve(channel).options.persist) return this.#node.publish(channel, data, { ...options, idempotencyKey: key });
    const now = Date.now();
    for (const [k, entry] of this.#idempotent) {
      if (entry.expiresAt > now && this.#idempotent.size <= this.#idempotencyMaxKeys) break;
      this.#idempotent.delete(k);
    }
    const cacheKey = `${channel}\u0000${key}`;
    const cached = this.#idempotent.get(cacheKey);
    if (cached) return cached.result;
    const result = this.#node.publish(channel, data, options);
    this.#idempotent.set(cacheKey, { expiresAt: now + this.#idempotencyTtlMs, result });
    // A failed publish may be retried with the same key.
    result.catch(() => this.#idempotent.delete(cacheKey));
    return result;
  }
}

/** `user` (may be "" only with `client`) and the optional `client` of user-targeted methods. */
function target(p: Params): { user: string; client: string | undefined } {
  const user = str(p, 'user', false) ?? '';
  const client = str(p, 'client', false) || undefined;
  if (user === '' && client === undefined) bad('user is required');
  return { user, client };
}

function disconnectParam(p: Params): { code: number; reason: string } | undefined {
  const d = p.disconnect;
  if (d === undefined || d === null) return undefined;
  if (!isObject(d)) bad('disconnect must be an object {code, reason}');
  const code = d.code;
  const [min] = DISCONNECT_RANGES.reconnect;
  const [, max] = DISCONNECT_RANGES.appTerminal;
  if (typeof code !== 'number' || !Number.isInteger(code) || code < min || code > max) {
    bad(`disconnect.code must be an integer in ${min}-${max}`);
  }
  const reason = d.reason ?? '';
  if (typeof reason !== 'string') bad('disconnect.reason must be a string');
  return { code, reason };
}

function sinceParam(p: Params): StreamPosition | undefined {
  const s = p.since;
  if (s === undefined || s === null) return undefined;
  if (!isObject(s)) bad('since must be an object {offset, epoch}');
  const offset = s.offset ?? 0;
  const epoch = s.epoch ?? '';
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) bad('since.offset must be an integer >= 0');
  if (typeof epoch !== 'string') bad('since.epoch must be a string');
  return { offset, epoch };
}

/** A batch command: `{"publish": {..}}` (Centrifugo v5+) or `{"method": "publish", "params": {..}}`. */
function parseBatchCommand(command: unknown): { method: string; params: unknown } | { error: ApiError } {
  if (!isObject(command)) return { error: { code: ERRORS.badRequest.code, message: 'bad request: a command must be a JSON object' } };
  if (typeof command.method === 'string') return { method: command.method, params: command.params };
  const keys = Object.keys(command).filter((k) => k !== 'id');
  if (keys.length !== 1) {
    return { error: { code: ERRORS.badRequest.code, message: 'bad request: a command holds exactly one method, e.g. {"publish": {..}}' } };
  }
  const method = keys[0]!;
  return { method, params: command[method] };
}
