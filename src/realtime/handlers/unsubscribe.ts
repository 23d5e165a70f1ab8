/** `unsubscribe`: always answered with `{}` (an error reply would make the client reconnect). */
import { DISCONNECTS, DisconnectError } from '../protocol/codes.js';
import type { Command } from '../protocol/frames.js';
import type { HandlerConnection } from './handler-connection.js';

export function handleUnsubscribe(session: HandlerConnection, cmd: Extract<Command, { method: 'unsubscribe' }>): void {
  const channel = cmd.params.channel;
  if (channel === '') throw new DisconnectError(DISCONNECTS.badRequest, 'channel required for unsubscribe');
  const sub = session.subs.get(channel);
  // Server-side subscriptions are the server's to end.
  if (sub && !sub.serverSide) session.removeSubscription(sub, true);
  session.reply(cmd.id, 'unsubscribe', {});
}
