/** `rpc` (no handler: 108) and `send` (no handler: dropped, counted). */
import { ERRORS, ReplyError } from '../protocol/codes.js';
import type { Command } from '../protocol/frames.js';
import type { HandlerConnection } from './handler-connection.js';

export async function handleRpc(session: HandlerConnection, cmd: Extract<Command, { method: 'rpc' }>): Promise<void> {
  const handler = session.ctx.rpcHandler(cmd.params.method);
  if (!handler) throw new ReplyError(ERRORS.notAvailable);
  const data = await handler(session.clientContext(), cmd.params.data);
  if (session.isClosed()) return;
  session.reply(cmd.id, 'rpc', data === undefined ? {} : { data });
}

export function handleSend(session: HandlerConnection, cmd: Extract<Command, { method: 'send' }>): void {
  const handler = session.ctx.sendHandler();
  if (!handler) {
    // The Go library closes with 3508 here; dropping keeps clients of apps without handlers up.
    session.ctx.metrics.drops.no_send_handler++;
    return;
  }
  handler(session.clientContext(), cmd.params.data);
}
