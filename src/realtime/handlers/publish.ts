/**
 * `publish` from a client. Persisted namespaces store the publication as a post first; the
 * reply then means "committed".
 */
import { DISCONNECTS, DisconnectError, ERRORS, ReplyError } from '../protocol/codes.js';
import type { Command } from '../protocol/frames.js';
import type { HandlerConnection } from './handler-connection.js';

export async function handlePublish(session: HandlerConnection, cmd: Extract<Command, { method: 'publish' }>): Promise<void> {
  const ctx = session.ctx;
  const { channel, data } = cmd.params;
  if (channel === '') throw new DisconnectError(DISCONNECTS.badRequest, 'channel required for publish');
  const resolved = ctx.namespaces.resolve(channel);
  ctx.namespaces.check(resolved, 'publish', session);
  if (data === undefined) throw new ReplyError(ERRORS.badRequest, 'publish needs data');
  const sub = session.subs.get(channel);
  await ctx.publish(resolved, data, { info: session.clientInfo(sub?.chanInfo) }, { user: session.user, owner: session.owner });
  session.reply(cmd.id, 'publish', {});
}
