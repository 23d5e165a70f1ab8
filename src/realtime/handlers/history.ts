/** `history`: limit 0 = position only, -1 = all kept, n = at most n; `since` with another epoch → 112. */
import { DISCONNECTS, DisconnectError, ERRORS, ReplyError } from '../protocol/codes.js';
import { wirePublication, type Command, type WireHistoryResult } from '../protocol/frames.js';
import { keepsStream } from '../namespaces.js';
import { epochMatches } from '../types.js';
import type { HandlerConnection } from './handler-connection.js';

export async function handleHistory(session: HandlerConnection, cmd: Extract<Command, { method: 'history' }>): Promise<void> {
  const ctx = session.ctx;
  const p = cmd.params;
  if (p.channel === '') throw new DisconnectError(DISCONNECTS.badRequest, 'channel required for history');
  const resolved = ctx.namespaces.resolve(p.channel);
  if (!keepsStream(resolved.options)) throw new ReplyError(ERRORS.notAvailable);
  ctx.namespaces.check(resolved, 'history', session);
  const limit = p.limit < 0 ? -1 : p.limit;
  const query = { limit, reverse: p.reverse, ...(p.since ? { since: { offset: p.since.offset, epoch: p.since.epoch } } : {}) };
  const history = await ctx.history(resolved, query);
  if (p.since && !epochMatches(p.since.epoch, history.position.epoch)) throw new ReplyError(ERRORS.unrecoverablePosition);
  const result: WireHistoryResult = {};
  if (history.publications.length > 0) result.publications = history.publications.map(wirePublication);
  if (history.position.epoch !== '') result.epoch = history.position.epoch;
  if (history.position.offset > 0) result.offset = history.position.offset;
  session.reply(cmd.id, 'history', result);
}
