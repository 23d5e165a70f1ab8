/** `presence` and `presence_stats`. */
import { DISCONNECTS, DisconnectError, ERRORS, ReplyError } from '../protocol/codes.js';
import { wireClientInfo, type Command, type WireClientInfo } from '../protocol/frames.js';
import type { ResolvedChannel } from '../namespaces.js';
import type { HandlerConnection } from './handler-connection.js';

function resolvePresence(session: HandlerConnection, channel: string): ResolvedChannel {
  if (channel === '') throw new DisconnectError(DISCONNECTS.badRequest, 'channel required for presence');
  const resolved = session.ctx.namespaces.resolve(channel);
  if (!resolved.options.presenceEnabled) throw new ReplyError(ERRORS.notAvailable);
  session.ctx.namespaces.check(resolved, 'presence', session);
  return resolved;
}

export async function handlePresence(session: HandlerConnection, cmd: Extract<Command, { method: 'presence' }>): Promise<void> {
  const resolved = resolvePresence(session, cmd.params.channel);
  const clients = await session.ctx.presence.presence(resolved.channel);
  const presence: Record<string, WireClientInfo> = {};
  for (const [client, info] of Object.entries(clients)) presence[client] = wireClientInfo(info);
  session.reply(cmd.id, 'presence', { presence });
}

export async function handlePresenceStats(session: HandlerConnection, cmd: Extract<Command, { method: 'presence_stats' }>): Promise<void> {
  const resolved = resolvePresence(session, cmd.params.channel);
  const stats = await session.ctx.presence.stats(resolved.channel);
  session.reply(cmd.id, 'presence_stats', { num_clients: stats.numClients, num_users: stats.numUsers });
}
