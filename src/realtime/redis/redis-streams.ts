/**
 * Channel streams in Redis, shared by RedisBus (append + fan-out) and RedisHistoryStore
 * (read + remove). Per channel:
 *
 *   <prefix>.meta.<channel>     hash {e: epoch, s: top offset}; TTL metaTtl, refreshed by publish and read
 *   <prefix>.stream.<channel>   Redis Stream; entry id "<offset>-0", field d = publication JSON
 *                               without offset; MAXLEN size (exact); TTL ttl, refreshed by publish
 *   <prefix>.channel.<channel>  the pub/sub channel
 *
 * When the meta is missing (first use, expiry, or a Redis that lost its data) it is created
 * with a NEW epoch and any leftover stream is deleted, so offsets restart at 1 only together
 * with a new epoch. Redis runs a script atomically, so offsets are gapless, history has an
 * offset before any subscriber sees it, and subscribers see offsets in order.
 * Epochs are made in Node (Redis seeds Lua's random generator identically on every call).
 *
 * Every publish carries a deadline in Redis's clock and does nothing when Redis runs it later
 * (replying MYCELLATE). A command cannot be taken back once written to the socket: without
 * the deadline, a publish whose caller was told "failed" (timeout while Redis was stopped)
 * would still be delivered when Redis resumes, and a retry would duplicate it.
 * Not for Redis Cluster: the keys of one channel are not hash-tagged.
 */

export function metaKey(prefix: string, channel: string): string {
  return `${prefix}.meta.${channel}`;
}

export function streamKey(prefix: string, channel: string): string {
  return `${prefix}.stream.${channel}`;
}

export function channelKeyPrefix(prefix: string): string {
  return `${prefix}.channel.`;
}

export function controlKey(prefix: string): string {
  return `${prefix}.control`;
}

/** Refuses (changes nothing) when Redis's clock is past the deadline in ARGV[deadlineArg] (ms). */
const REFUSE_LATE = (deadlineArg: number): string => `
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[${deadlineArg}]) then
  return redis.error_reply('MYCELLATE the call reached Redis after its deadline')
end
`;

/** Loads the meta, creating it with the epoch in ARGV[epochArg] when missing. */
const ENSURE_META = (epochArg: number): string => `
local m = redis.call('HMGET', KEYS[1], 'e', 's')
local epoch = m[1]
local top = tonumber(m[2]) or 0
if not epoch then
  epoch = ARGV[${epochArg}]
  top = 0
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
end
`;

/**
 * KEYS: meta, stream. ARGV: 1 pub/sub channel, 2 publication JSON without offset, 3 size,
 * 4 ttl ms, 5 meta ttl ms, 6 epoch to use if the meta is missing, 7 deadline (Redis ms).
 * Returns {offset, epoch}. The published text is the codec's "pub, with history" form
 * (redis-codec.ts).
 */
export const PUBLISH_LUA = `${REFUSE_LATE(7)}${ENSURE_META(6)}
local offset = redis.call('HINCRBY', KEYS[1], 's', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], string.format('%d-0', offset), 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', ARGV[1], '{"t":"p","o":' .. string.format('%d', offset) .. ',"e":"' .. epoch .. '","p":' .. ARGV[2] .. '}')
return {offset, epoch}
`;

/** KEYS: none. ARGV: 1 pub/sub channel, 2 message, 3 deadline (Redis ms). PUBLISH, unless late. */
export const PUBLISH_NOW_LUA = `${REFUSE_LATE(3)}
return redis.call('PUBLISH', ARGV[1], ARGV[2])
`;

/**
 * KEYS: meta, stream. ARGV: 1 epoch to use if the meta is missing, 2 meta ttl ms, 3 limit
 * (0 none, -1 all, n), 4 reverse (1/0), 5 has since (1/0), 6 since offset, 7 since epoch
 * ('' = any). Returns {top offset, epoch, entries}. Selection (the memory store does the
 * same): no since: the oldest n, or the newest n when reversed; since: offsets above it, or
 * below it newest first when reversed; a since epoch that is not the current one: none.
 */
export const HISTORY_LUA = `${ENSURE_META(1)}
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local limit = tonumber(ARGV[3])
if limit == 0 then return {top, epoch, {}} end
if ARGV[5] == '1' and ARGV[7] ~= '' and ARGV[7] ~= epoch then return {top, epoch, {}} end
local reverse = ARGV[4] == '1'
local cmd, first, last = 'XRANGE', '-', '+'
if reverse then cmd, first, last = 'XREVRANGE', '+', '-' end
if ARGV[5] == '1' then
  local since = tonumber(ARGV[6])
  if reverse then
    if since <= 1 then return {top, epoch, {}} end
    first = string.format('%d-0', since - 1)
  else
    first = string.format('%d-0', since + 1)
  end
end
local entries
if limit > 0 then
  entries = redis.call(cmd, KEYS[2], first, last, 'COUNT', limit)
else
  entries = redis.call(cmd, KEYS[2], first, last)
end
return {top, epoch, entries}
`;
