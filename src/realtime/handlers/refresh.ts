/**
 * `refresh` (a new connection token before the connection expires) and `sub_refresh` (a new
 * subscription token before the subscription expires).
 */
import { TOKEN_KEYS_UNAVAILABLE_MESSAGE, TokenError } from '../auth/tokens.js';
import { DISCONNECTS, DisconnectError, ERRORS, ReplyError } from '../protocol/codes.js';
import type { Command, WireRefreshResult, WireSubRefreshResult } from '../protocol/frames.js';
import type { HandlerConnection } from './handler-connection.js';

function ttlOf(expireAt: number): number {
  return Math.max(1, expireAt - Math.floor(Date.now() / 1000));
}

export async function handleRefresh(session: HandlerConnection, cmd: Extract<Command, { method: 'refresh' }>): Promise<void> {
  const token = cmd.params.token;
  if (token === '') throw new DisconnectError(DISCONNECTS.badRequest, 'token required to refresh');
  let claims;
  try {
    claims = await session.ctx.tokens.verifyConnection(token);
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    // Temporary: the client tries the refresh again later, the connection stays.
    if (err.kind === 'unavailable') throw new ReplyError(ERRORS.internal, TOKEN_KEYS_UNAVAILABLE_MESSAGE);
    throw new DisconnectError(err.kind === 'expired' ? DISCONNECTS.expired : DISCONNECTS.invalidToken);
  }
  if (claims.user !== session.user) throw new DisconnectError(DISCONNECTS.invalidToken, 'refresh token is for another user');
  if (session.isClosed()) return;
  session.expireAt = claims.expireAt;
  if (claims.info !== undefined) session.connInfo = claims.info;
  const result: WireRefreshResult = {};
  if (claims.expireAt > 0) {
    result.expires = true;
    result.ttl = ttlOf(claims.expireAt);
  }
  session.reply(cmd.id, 'refresh', result);
}

export async function handleSubRefresh(session: HandlerConnection, cmd: Extract<Command, { method: 'sub_refresh' }>): Promise<void> {
  const { channel, token } = cmd.params;
  if (channel === '') throw new DisconnectError(DISCONNECTS.badRequest, 'channel required for sub refresh');
  const sub = session.subs.get(channel);
  if (!sub || !sub.active) throw new ReplyError(ERRORS.permissionDenied);
  if (sub.serverSide) throw new DisconnectError(DISCONNECTS.badRequest, 'server-side subscriptions are refreshed by the server');
  if (token === '') throw new ReplyError(ERRORS.badRequest);
  let claims;
  try {
    claims = await session.ctx.tokens.verifySubscription(token);
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    if (err.kind === 'expired') throw new ReplyError(ERRORS.tokenExpired);
    if (err.kind === 'unavailable') throw new ReplyError(ERRORS.internal, TOKEN_KEYS_UNAVAILABLE_MESSAGE);
    throw new DisconnectError(DISCONNECTS.invalidToken);
  }
  if (claims.user !== session.user || claims.channel !== channel || (claims.client !== '' && claims.client !== session.id)) {
    throw new DisconnectError(DISCONNECTS.invalidToken, 'subscription token does not match the connection');
  }
  if (session.subs.get(channel) !== sub) throw new ReplyError(ERRORS.permissionDenied);
  const previous = sub.expireAt;
  sub.expireAt = claims.expireAt;
  if (claims.info !== undefined) sub.chanInfo = claims.info;
  session.subscriptionExpiryChanged(sub, previous);
  const result: WireSubRefreshResult = {};
  if (claims.expireAt > 0) {
    result.expires = true;
    result.ttl = ttlOf(claims.expireAt);
  }
  session.reply(cmd.id, 'sub_refresh', result);
}
