import type { PresenceStore } from '../presence-store.js';
import type { ClientInfo } from '../types.js';
import { MycelError } from '../../errors.js';
import { ttlMs } from '../stream-rules.js';
import { DEFAULT_PREFIX, RedisConnection, type RedisBackendOptions } from './redis-connection.js';

/**
 * Presence in Redis, every operation one Lua script (atomic, and pruning expired entries of
 * the channel it touches first, like centrifuge's presence_redis). Keys:
 *
 *   <prefix>.presence.data.<channel>    hash  u:<client> → user, c:<client> → connInfo JSON, h:<client> → chanInfo JSON
 *   <prefix>.presence.expire.<channel>  zset  client → expiry (ms, Redis clock)
 *   <prefix>.presence.users.<channel>   hash  user → live clients (numUsers without a scan)
 *   <prefix>.presence.user.<user>       zset  "<len(client)>:<client><channel>" → expiry
 *
 * An entry is live while now < expiry; keys get a TTL of at least the latest add's, so a
 * dead instance's entries vanish even if nobody reads them. Times come from Redis (TIME),
 * so instances with skewed clocks agree. Keys are built inside the scripts, which is fine
 * on a single Redis but not on Redis Cluster.
 */

const PRELUDE = `
local prefix = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ckeys(ch)
  return prefix .. '.presence.data.' .. ch, prefix .. '.presence.expire.' .. ch, prefix .. '.presence.users.' .. ch
end
local function ukey(user)
  return prefix .. '.presence.user.' .. user
end
local function member(client, ch)
  return string.len(client) .. ':' .. client .. ch
end
local function split_member(m)
  local colon = string.find(m, ':', 1, true)
  local n = tonumber(string.sub(m, 1, colon - 1))
  return string.sub(m, colon + 1, colon + n), string.sub(m, colon + n + 1)
end
local function drop_client(ch, client)
  local dk, ek, uk = ckeys(ch)
  redis.call('ZREM', ek, client)
  local user = redis.call('HGET', dk, 'u:' .. client)
  if not user then return false end
  redis.call('HDEL', dk, 'u:' .. client, 'c:' .. client, 'h:' .. client)
  if redis.call('HINCRBY', uk, user, -1) <= 0 then redis.call('HDEL', uk, user) end
  redis.call('ZREM', ukey(user), member(client, ch))
  return user
end
local function prune(ch, now)
  local _, ek = ckeys(ch)
  local expired = redis.call('ZRANGEBYSCORE', ek, '-inf', now)
  for i = 1, #expired do drop_client(ch, expired[i]) end
end
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
-- The user's live clients, as {client, channel} pairs; stale index entries are removed.
local function live_user_entries(user, now)
  local uk = ukey(user)
  redis.call('ZREMRANGEBYSCORE', uk, '-inf', now)
  local members = redis.call('ZRANGE', uk, 0, -1)
  local out = {}
  for i = 1, #members do
    local client, ch = split_member(members[i])
    local dk, ek = ckeys(ch)
    local score = redis.call('ZSCORE', ek, client)
    if score and tonumber(score) > now and redis.call('HGET', dk, 'u:' .. client) == user then
      out[#out + 1] = {client, ch}
    else
      redis.call('ZREM', uk, members[i])
    end
  end
  return out
end
`;

/** ARGV: prefix, channel, client, user, connInfo JSON ('' = none), chanInfo JSON ('' = none), ttl ms. */
const ADD_LUA = `${PRELUDE}
local ch, client, user, conn, chan, ttl = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local now = now_ms()
prune(ch, now)
local dk, ek, uk = ckeys(ch)
local old = redis.call('HGET', dk, 'u:' .. client)
if old and old ~= user then
  drop_client(ch, client)
  old = false
end
if not old then redis.call('HINCRBY', uk, user, 1) end
redis.call('HSET', dk, 'u:' .. client, user)
if conn ~= '' then redis.call('HSET', dk, 'c:' .. client, conn) else redis.call('HDEL', dk, 'c:' .. client) end
if chan ~= '' then redis.call('HSET', dk, 'h:' .. client, chan) else redis.call('HDEL', dk, 'h:' .. client) end
local expire_at = now + ttl
redis.call('ZADD', ek, expire_at, client)
local user_key = ukey(user)
redis.call('ZREMRANGEBYSCORE', user_key, '-inf', now)
redis.call('ZADD', user_key, expire_at, member(client, ch))
extend(dk, ttl)
extend(ek, ttl)
extend(uk, ttl)
extend(user_key, ttl)
return 1
`;

/** ARGV: prefix, channel, client, user. */
const REMOVE_LUA = `${PRELUDE}
local ch, client, user = ARGV[2], ARGV[3], ARGV[4]
prune(ch, now_ms())
if not drop_client(ch, client) then redis.call('ZREM', ukey(user), member(client, ch)) end
return 1
`;

/** ARGV: prefix, channel. Returns the data hash as a flat list. */
const PRESENCE_LUA = `${PRELUDE}
prune(ARGV[2], now_ms())
local dk = ckeys(ARGV[2])
return redis.call('HGETALL', dk)
`;

/** ARGV: prefix, channel. Returns {numClients, numUsers}. */
const STATS_LUA = `${PRELUDE}
prune(ARGV[2], now_ms())
local _, ek, uk = ckeys(ARGV[2])
return {redis.call('ZCARD', ek), redis.call('HLEN', uk)}
`;

/** ARGV: prefix, channel, user, connInfo JSON ('' = keep), chanInfo JSON ('' = keep). */
const UPDATE_LUA = `${PRELUDE}
local ch, user, conn, chan = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = now_ms()
prune(ch, now)
local dk = ckeys(ch)
local entries = live_user_entries(user, now)
for i = 1, #entries do
  local client = entries[i][1]
  if entries[i][2] == ch then
    if conn ~= '' then redis.call('HSET', dk, 'c:' .. client, conn) end
    if chan ~= '' then redis.call('HSET', dk, 'h:' .. client, chan) end
  end
end
return 1
`;

/** ARGV: prefix, user. Returns channel names (with repeats). */
const USER_CHANNELS_LUA = `${PRELUDE}
local entries = live_user_entries(ARGV[2], now_ms())
local out = {}
for i = 1, #entries do out[i] = entries[i][2] end
return out
`;

/** ARGV: prefix, user. Removes every live client of the user; returns their channels (with repeats). */
const REMOVE_USER_LUA = `${PRELUDE}
local entries = live_user_entries(ARGV[2], now_ms())
local out = {}
for i = 1, #entries do
  drop_client(entries[i][2], entries[i][1])
  out[i] = entries[i][2]
end
redis.call('DEL', ukey(ARGV[2]))
return out
`;

type Script = ReturnType<RedisConnection['defineScript']>;
type ScriptName = 'add' | 'remove' | 'presence' | 'stats' | 'update' | 'userChannels' | 'removeUser';

/** The PresenceStore over Redis, on its own connection. */
export class RedisPresenceStore implements PresenceStore {
  readonly prefix: string;
  readonly connection: RedisConnection;
  private readonly scripts: Record<ScriptName, Script>;

  constructor(options: RedisBackendOptions) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.connection = new RedisConnection(options, 'presence');
    const c = this.connection;
    this.scripts = {
      add: c.defineScript('mycelPresenceAdd', ADD_LUA, 0),
      remove: c.defineScript('mycelPresenceRemove', REMOVE_LUA, 0),
      presence: c.defineScript('mycelPresenceList', PRESENCE_LUA, 0),
      stats: c.defineScript('mycelPresenceStats', STATS_LUA, 0),
      update: c.defineScript('mycelPresenceUpdate', UPDATE_LUA, 0),
      userChannels: c.defineScript('mycelPresenceUserChannels', USER_CHANNELS_LUA, 0),
      removeUser: c.defineScript('mycelPresenceRemoveUser', REMOVE_USER_LUA, 0),
    };
  }

  async add(channel: string, info: ClientInfo, ttlSeconds: number): Promise<void> {
    if (!(ttlSeconds > 0)) throw new MycelError('VALIDATION_FAILED', { field: 'ttlSeconds', value: ttlSeconds });
    const args = [this.prefix, channel, info.client, info.user, toJson(info.connInfo), toJson(info.chanInfo), ttlMs(ttlSeconds)];
    await this.run('presence.add', 'add', args);
  }

  async remove(channel: string, clientId: string, user: string): Promise<void> {
    await this.run('presence.remove', 'remove', [this.prefix, channel, clientId, user]);
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    const flat = (await this.run('presence.list', 'presence', [this.prefix, channel])) as string[];
    const out: Record<string, ClientInfo> = {};
    // `u:` fields make the entry; `c:`/`h:` fields add to it (HGETALL order is arbitrary).
    const extra: Array<[kind: string, client: string, json: string]> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i]!;
      const client = field.slice(2);
      if (field.startsWith('u:')) out[client] = { user: flat[i + 1]!, client };
      else extra.push([field[0]!, client, flat[i + 1]!]);
    }
    for (const [kind, client, json] of extra) {
      const info = out[client];
      if (!info) continue;
      if (kind === 'c') info.connInfo = JSON.parse(json) as unknown;
      else if (kind === 'h') info.chanInfo = JSON.parse(json) as unknown;
    }
    return out;
  }

  async stats(channel: string): Promise<{ numClients: number; numUsers: number }> {
    const [numClients, numUsers] = (await this.run('presence.stats', 'stats', [this.prefix, channel])) as [number, number];
    return { numClients, numUsers };
  }

  async updateUserInfo(channel: string, user: string, update: { connInfo?: unknown; chanInfo?: unknown }): Promise<void> {
    await this.run('presence.update', 'update', [this.prefix, channel, user, toJson(update.connInfo), toJson(update.chanInfo)]);
  }

  async userChannels(user: string): Promise<string[]> {
    const channels = (await this.run('presence.userChannels', 'userChannels', [this.prefix, user])) as string[];
    return [...new Set(channels)].sort();
  }

  async removeUser(user: string): Promise<string[]> {
    const channels = (await this.run('presence.removeUser', 'removeUser', [this.prefix, user])) as string[];
    return [...new Set(channels)].sort();
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  private run(op: string, script: ScriptName, args: (string | number)[]): Promise<unknown> {
    return this.connection.run(op, () => this.scripts[script]([], args));
  }
}

/** '' stands for "absent": JSON text is never empty. */
function toJson(value: unknown): string {
  if (value === undefined) return '';
  return JSON.stringify(value) ?? '';
}
