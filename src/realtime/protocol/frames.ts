/**
 * Frames of the Centrifugo client protocol v2, JSON encoding (docs/protocol.md).
 *
 * In: a frame is one or more JSON commands separated by `\n`; blank lines are skipped. Each
 * line is validated into a typed `Command`; anything malformed (bad JSON, wrong types, no
 * known method) throws a DisconnectError 3501 (bad request), as the reference server does.
 * Unknown fields are ignored so newer clients keep working.
 *
 * Out: replies and pushes in snake_case with empty fields omitted, except that a reply always
 * carries its result key (even `{}`): the client dereferences it.
 */
import type { ClientInfo, Publication } from '../types.js';
import { DISCONNECTS, DisconnectError, type ReplyErrorCode } from './codes.js';

// ---------------------------------------------------------------------------------------------
// Commands (client → server)

export interface StreamPositionRequest {
  offset: number;
  epoch: string;
}

export interface SubscribeRecovery {
  recover: boolean;
  offset: number;
  epoch: string;
}

export interface ConnectRequest {
  token: string;
  data: unknown;
  /** Recovery positions of server-side subscriptions the client had. */
  subs: Record<string, SubscribeRecovery>;
  name: string;
  version: string;
  headers: Record<string, string>;
}

export interface SubscribeRequest {
  channel: string;
  token: string;
  data: unknown;
  recover: boolean;
  offset: number;
  epoch: string;
  positioned: boolean;
  recoverable: boolean;
  joinLeave: boolean;
  /** Bit 1: channel compaction offered; bit 2: reject an unrecovered position with error 112. */
  flag: number;
  delta: string;
}

export interface ChannelRequest {
  channel: string;
}

export interface PublishRequest {
  channel: string;
  /** undefined when the command had no `data`. */
  data: unknown;
}

export interface HistoryRequest {
  channel: string;
  limit: number;
  since: StreamPositionRequest | null;
  reverse: boolean;
}

export interface RpcRequest {
  method: string;
  data: unknown;
}

export interface SendRequest {
  data: unknown;
}

export interface RefreshRequest {
  token: string;
}

export interface SubRefreshRequest {
  channel: string;
  token: string;
}

export type Command =
  | { method: 'connect'; id: number; params: ConnectRequest }
  | { method: 'subscribe'; id: number; params: SubscribeRequest }
  | { method: 'unsubscribe'; id: number; params: ChannelRequest }
  | { method: 'publish'; id: number; params: PublishRequest }
  | { method: 'presence'; id: number; params: ChannelRequest }
  | { method: 'presence_stats'; id: number; params: ChannelRequest }
  | { method: 'history'; id: number; params: HistoryRequest }
  | { method: 'rpc'; id: number; params: RpcRequest }
  | { method: 'send'; id: number; params: SendRequest }
  | { method: 'refresh'; id: number; params: RefreshRequest }
  | { method: 'sub_refresh'; id: number; params: SubRefreshRequest }
  /** The empty command `{}` answering a server ping. */
  | { method: 'pong'; id: 0 };

export type Method = Command['method'];

type JsonObject = Record<string, unknown>;

function bad(detail: string): never {
  throw new DisconnectError(DISCONNECTS.badRequest, detail);
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: JsonObject, key: string): string {
  const v = o[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') bad(`${key} must be a string`);
  return v;
}

function bool(o: JsonObject, key: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') bad(`${key} must be a boolean`);
  return v;
}

/** A non-negative integer (uint32/uint64 fields); JSON numbers above 2^53 are refused. */
function uint(o: JsonObject, key: string): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${key} must be a non-negative integer`);
  return v;
}

function int(o: JsonObject, key: string): number {
  const v = o[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) bad(`${key} must be an integer`);
  return v;
}

function obj(o: JsonObject, key: string): JsonObject | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (!isObject(v)) bad(`${key} must be an object`);
  return v;
}

function params(cmd: JsonObject, key: string): JsonObject {
  const v = cmd[key];
  if (!isObject(v)) bad(`${key} must be an object`);
  return v;
}

/** The order in which method keys are looked for in a command object. */
const METHOD_KEYS = [
  'connect',
  'subscribe',
  'unsubscribe',
  'publish',
  'presence',
  'presence_stats',
  'history',
  'rpc',
  'send',
  'refresh',
  'sub_refresh',
] as const;

function parseConnect(p: JsonObject): ConnectRequest {
  const subs: Record<string, SubscribeRecovery> = {};
  const rawSubs = obj(p, 'subs');
  if (rawSubs) {
    for (const [channel, v] of Object.entries(rawSubs)) {
      if (!isObject(v)) bad('subs entries must be objects');
      subs[channel] = { recover: bool(v, 'recover'), offset: uint(v, 'offset'), epoch: str(v, 'epoch') };
    }
  }
  const headers: Record<string, string> = {};
  const rawHeaders = obj(p, 'headers');
  if (rawHeaders) {
    for (const [k, v] of Object.entries(rawHeaders)) {
      if (typeof v !== 'string') bad('headers values must be strings');
      headers[k] = v;
    }
  }
  return { token: str(p, 'token'), data: p.data, subs, name: str(p, 'name'), version: str(p, 'version'), headers };
}

function parseSubscribe(p: JsonObject): SubscribeRequest {
  return {
    channel: str(p, 'channel'),
    token: str(p, 'token'),
    data: p.data,
    recover: bool(p, 'recover'),
    offset: uint(p, 'offset'),
    epoch: str(p, 'epoch'),
    positioned: bool(p, 'positioned'),
    recoverable: bool(p, 'recoverable'),
    joinLeave: bool(p, 'join_leave'),
    flag: uint(p, 'flag'),
    delta: str(p, 'delta'),
  };
}

function parseHistory(p: JsonObject): HistoryRequest {
  const since = obj(p, 'since');
  return {
    channel: str(p, 'channel'),
    limit: int(p, 'limit'),
    since: since ? { offset: uint(since, 'offset'), epoch: str(since, 'epoch') } : null,
    reverse: bool(p, 'reverse'),
  };
}

/** Parses one line (one JSON command). Throws DisconnectError 3501 on anything malformed. */
export function parseCommand(line: string): Command {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    bad('malformed JSON');
  }
  if (!isObject(raw)) bad('a command must be a JSON object');
  const id = uint(raw, 'id');
  if (id > 0xffffffff) bad('id out of range');
  let method: (typeof METHOD_KEYS)[number] | undefined;
  for (const key of METHOD_KEYS) {
    if (raw[key] !== undefined && raw[key] !== null) {
      method = key;
      break;
    }
  }
  // The reference treats any command with id 0 and no `send` as a pong.
  if (id === 0 && method !== 'send') return { method: 'pong', id: 0 };
  if (method === undefined) bad('unknown method');
  const p = params(raw, method);
  switch (method) {
    case 'connect':
      return { method, id, params: parseConnect(p) };
    case 'subscribe':
      return { method, id, params: parseSubscribe(p) };
    case 'unsubscribe':
    case 'presence':
    case 'presence_stats':
      return { method, id, params: { channel: str(p, 'channel') } };
    case 'publish':
      return { method, id, params: { channel: str(p, 'channel'), data: p.data } };
    case 'history':
      return { method, id, params: parseHistory(p) };
    case 'rpc':
      return { method, id, params: { method: str(p, 'method'), data: p.data } };
    case 'send':
      return { method, id, params: { data: p.data } };
    case 'refresh':
      return { method, id, params: { token: str(p, 'token') } };
    case 'sub_refresh':
      return { method, id, params: { channel: str(p, 'channel'), token: str(p, 'token') } };
  }
}

/**
 * Calls `each` with every non-blank line of a frame, in order, without copying the frame into
 * an array first. Stops early when `each` returns false.
 */
export function forEachLine(frame: string, each: (line: string) => boolean): void {
  let start = 0;
  const len = frame.length;
  while (start < len) {
    let end = frame.indexOf('\n', start);
    if (end === -1) end = len;
    let line = frame.slice(start, end);
    if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    start = end + 1;
    if (line.trim().length === 0) continue;
    if (!each(line)) return;
  }
}

/** Splits a frame into its non-blank lines. */
export function splitFrame(frame: string): string[] {
  const lines: string[] = [];
  forEachLine(frame, (line) => {
    lines.push(line);
    return true;
  });
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Replies and pushes (server → client)

export interface WireClientInfo {
  user: string;
  client: string;
  conn_info?: unknown;
  chan_info?: unknown;
}

export interface WirePublication {
  data: unknown;
  info?: WireClientInfo;
  offset?: number;
  tags?: Record<string, string>;
  /** Only for a subscriber that learns its stream's epoch from this publication (see `admit`). */
  epoch?: string;
}

export interface WireSubscribeResult {
  expires?: boolean;
  ttl?: number;
  recoverable?: boolean;
  epoch?: string;
  publications?: WirePublication[];
  recovered?: boolean;
  offset?: number;
  positioned?: boolean;
  data?: unknown;
  was_recovering?: boolean;
}

export interface WireConnectResult {
  client: string;
  version: string;
  expires?: boolean;
  ttl?: number;
  data?: unknown;
  subs?: Record<string, WireSubscribeResult>;
  ping?: number;
  pong?: boolean;
  session?: string;
  node?: string;
  time?: number;
}

export interface WireRefreshResult {
  client?: string;
  version?: string;
  expires?: boolean;
  ttl?: number;
}

export interface WireSubRefreshResult {
  expires?: boolean;
  ttl?: number;
}

export interface WireHistoryResult {
  publications?: WirePublication[];
  epoch?: string;
  offset?: number;
}

export interface WirePresenceResult {
  presence: Record<string, WireClientInfo>;
}

export interface WirePresenceStatsResult {
  num_clients: number;
  num_users: number;
}

/** Result shapes by method; `{}` for those that return nothing. */
export interface ResultByMethod {
  connect: WireConnectResult;
  subscribe: WireSubscribeResult;
  unsubscribe: Record<string, never>;
  publish: Record<string, never>;
  presence: WirePresenceResult;
  presence_stats: WirePresenceStatsResult;
  history: WireHistoryResult;
  rpc: { data?: unknown };
  refresh: WireRefreshResult;
  sub_refresh: WireSubRefreshResult;
}

export function wireClientInfo(info: ClientInfo): WireClientInfo {
  const out: WireClientInfo = { user: info.user, client: info.client };
  if (info.connInfo !== undefined && info.connInfo !== null) out.conn_info = info.connInfo;
  if (info.chanInfo !== undefined && info.chanInfo !== null) out.chan_info = info.chanInfo;
  return out;
}

export function wirePublication(pub: Publication): WirePublication {
  const out: WirePublication = { data: pub.data === undefined ? null : pub.data };
  if (pub.info) out.info = wireClientInfo(pub.info);
  if (pub.offset > 0) out.offset = pub.offset;
  if (pub.tags && Object.keys(pub.tags).length > 0) out.tags = pub.tags;
  return out;
}

/** A reply to the command `id` with the result of `method`. */
export function encodeReply<M extends keyof ResultByMethod>(id: number, method: M, result: ResultByMethod[M]): string {
  return `{"id":${id},"${method}":${JSON.stringify(result)}}`;
}

export function encodeErrorReply(id: number, error: { code: number; message: string; temporary?: boolean }): string {
  const e: ReplyErrorCode = { code: error.code, message: error.message };
  if (error.temporary) e.temporary = true;
  return `{"id":${id},"error":${JSON.stringify(e)}}`;
}

/** The server ping; also the only frame that is `{}`. */
export const PING_FRAME = '{}';

function push(channel: string, type: string, body: string): string {
  return `{"push":{"channel":${JSON.stringify(channel)},"${type}":${body}}}`;
}

/**
 * The publication push: built once per channel message and written to every subscriber. With
 * `epoch`, built for one subscriber that learns its stream's epoch from this publication.
 */
export function encodePublicationPush(channel: string, pub: Publication, epoch?: string): string {
  const wire = wirePublication(pub);
  if (epoch) wire.epoch = epoch;
  return push(channel, 'pub', JSON.stringify(wire));
}

export function encodeJoinPush(channel: string, info: ClientInfo): string {
  return push(channel, 'join', `{"info":${JSON.stringify(wireClientInfo(info))}}`);
}

export function encodeLeavePush(channel: string, info: ClientInfo): string {
  return push(channel, 'leave', `{"info":${JSON.stringify(wireClientInfo(info))}}`);
}

export function encodeUnsubscribePush(channel: string, code: number, reason: string): string {
  return push(channel, 'unsubscribe', JSON.stringify({ code, reason }));
}

/** A server-side subscription the server added after connect. */
export function encodeSubscribePush(channel: string, result: WireSubscribeResult): string {
  return push(channel, 'subscribe', JSON.stringify(result));
}

/** An asynchronous message to the client (not in a channel). */
export function encodeMessagePush(data: unknown): string {
  return `{"push":{"message":${JSON.stringify({ data: data === undefined ? null : data })}}}`;
}

/** The disconnect push of emulation transports, which have no close code. */
export function encodeDisconnectPush(code: number, reason: string): string {
  return `{"push":{"disconnect":${JSON.stringify({ code, reason })}}}`;
}
