/**
 * `subscribe`, and the subscription set-up shared with server-side subscriptions (connect
 * claims, subscribeUser): permissions, Hub registration, presence, position and recovery.
 */
import { TOKEN_KEYS_UNAVAILABLE_MESSAGE, TokenError, type SubscriptionOverride } from '../auth/tokens.js';
import { keepsStream, levelAllows, type ResolvedChannel } from '../namespaces.js';
import { DISCONNECTS, DisconnectError, ERRORS, ReplyError } from '../protocol/codes.js';
import { wirePublication, type Command, type WireSubscribeResult } from '../protocol/frames.js';
import type { HandlerConnection } from './handler-connection.js';
import { Subscription } from '../subscription.js';
import { evaluateRecovery } from './recovery.js';

/** Reject an unrecovered position with error 112 instead of `recovered: false` (client has getState). */
export const FLAG_REJECT_UNRECOVERED = 2;

export interface SubscribeParams {
  channel: string;
  recover: boolean;
  offset: number;
  epoch: string;
  flag: number;
  /** The client asks for join/leave pushes. */
  joinLeave: boolean;
  positioned: boolean;
}

/** What a subscription token (or a connection token's `subs` claim) grants. */
export interface SubscribeGrant {
  chanInfo?: unknown;
  data?: unknown;
  /** Unix seconds; 0 = never. */
  expireAt: number;
  override?: SubscriptionOverride;
}

export interface Established {
  sub: Subscription;
  result: WireSubscribeResult;
}

/**
 * Sets a subscription up; the caller writes the result (reply, connect result or push) and then
 * calls `session.activate(sub)`. On failure everything done is undone and the error rethrown.
 * The subscription must not exist yet; it is reserved in `session.subs` at once.
 */
export async function establishSubscription(
  session: HandlerConnection,
  resolved: ResolvedChannel,
  params: SubscribeParams,
  grant: SubscribeGrant,
  serverSide: boolean,
): Promise<Established> {
  const ctx = session.ctx;
  const ns = resolved.options;
  const ov = grant.override ?? {};
  const sub = new Subscription(resolved.channel, session, serverSide);
  const keepsHistory = keepsStream(ns);
  sub.recoverable = keepsHistory && (ov.forceRecovery ?? ns.recovery);
  sub.positioned = keepsHistory && (sub.recoverable || ov.forcePositioning === true || params.positioned);
  sub.presence = ov.presence ?? ns.presenceEnabled;
  sub.emitJoinLeave = ov.joinLeave ?? ns.joinLeave;
  // Join/leave reveal who is present, so they need the presence permission (or a server-side grant).
  const maySeePresence = serverSide || levelAllows(ns.presence, session);
  sub.pushJoinLeave = ov.forcePushJoinLeave === true || (sub.emitJoinLeave && (params.joinLeave || serverSide) && maySeePresence);
  sub.chanInfo = grant.chanInfo;
  sub.expireAt = grant.expireAt;
  session.subs.set(resolved.channel, sub);

  const stillWanted = (): boolean => !session.isClosed() && session.subs.get(resolved.channel) === sub;
  let presenceAdded = false;
  const undo = (): void => {
    if (session.subs.get(resolved.channel) === sub) {
      session.removeSubscription(sub, false);
      return;
    }
    // Already removed (the session closed meanwhile): its presence removal may have run before
    // our add landed, so remove again (idempotent) rather than leave an entry until its TTL.
    ctx.hub.remove(sub);
    if (presenceAdded) {
      ctx.presence.remove(resolved.channel, session.id, session.user).catch((err: unknown) => {
        ctx.metrics.error('presence_remove');
        ctx.log.warn({ err, channel: resolved.channel, client: session.id }, 'presence remove failed');
      });
    }
  };
  try {
    await ctx.hub.add(sub);
    if (!stillWanted()) throw new ReplyError(ERRORS.internal, 'subscription ended while it was set up');
    if (sub.presence) {
      presenceAdded = true;
      await ctx.presence.add(resolved.channel, session.clientInfo(sub.chanInfo), ctx.config.presenceTtlSeconds);
      if (!stillWanted()) throw new ReplyError(ERRORS.internal, 'subscription ended while it was set up');
    }
    const result: WireSubscribeResult = {};
    if (grant.expireAt > 0) {
      result.expires = true;
      result.ttl = Math.max(1, grant.expireAt - Math.floor(Date.now() / 1000));
    }
    if (grant.data !== undefined) result.data = grant.data;
    if (sub.positioned) {
      result.positioned = true;
      if (sub.recoverable) result.recoverable = true;
      if (sub.recoverable && params.recover) {
        const history = await ctx.history(resolved, {
          since: { offset: params.offset, epoch: params.epoch },
          limit: ns.historySize > 0 ? ns.historySize : -1,
        });
        const outcome = evaluateRecovery(history, { offset: params.offset, epoch: params.epoch }, ctx.config.recoveryWindowSeconds * 1000, Date.now());
        if (!outcome.recovered && (params.flag & FLAG_REJECT_UNRECOVERED) !== 0) throw new ReplyError(ERRORS.unrecoverablePosition);
        result.was_recovering = true;
        result.epoch = outcome.top.epoch;
        sub.epoch = outcome.top.epoch;
        sub.offset = outcome.top.offset;
        const last = outcome.publications[outcome.publications.length - 1];
        if (last && last.offset > sub.offset) sub.offset = last.offset;
        if (outcome.recovered) {
          result.recovered = true;
          // The reference answers a recovery with the position recovered from; each
          // publication that follows in the result moves the client forward.
          result.offset = params.offset;
          if (outcome.publications.length > 0) result.publications = outcome.publications.map(wirePublication);
        } else {
          result.offset = outcome.top.offset;
        }
      } else {
        const top = await ctx.history(resolved, { limit: 0 });
        result.offset = top.position.offset;
        result.epoch = top.position.epoch;
        sub.offset = top.position.offset;
        sub.epoch = top.position.epoch;
      }
      if (!stillWanted()) throw new ReplyError(ERRORS.internal, 'subscription ended while it was set up');
      if (result.offset === 0) delete result.offset;
      if (result.epoch === '') delete result.epoch;
    }
    return { sub, result };
  } catch (err) {
    undo();
    throw err;
  }
}

/**
 * Writes an established subscription's result (`write`: reply or push) and activates it. A
 * write that throws (a result that cannot be encoded) removes the subscription again, so
 * nothing stays half-registered and a retry is not answered 105.
 */
export function completeSubscription(session: HandlerConnection, established: Established, write: (result: WireSubscribeResult) => void): void {
  try {
    write(established.result);
  } catch (err) {
    session.removeSubscription(established.sub, false);
    throw err;
  }
  session.activate(established.sub);
}

/** Checks a subscription token against the connection; throws the protocol's answer. */
async function verifySubscriptionToken(session: HandlerConnection, channel: string, token: string): Promise<SubscribeGrant> {
  let claims;
  try {
    claims = await session.ctx.tokens.verifySubscription(token);
  } catch (err) {
    if (err instanceof TokenError) {
      if (err.kind === 'unavailable') throw new ReplyError(ERRORS.internal, TOKEN_KEYS_UNAVAILABLE_MESSAGE);
      throw new ReplyError(err.kind === 'expired' ? ERRORS.tokenExpired : ERRORS.permissionDenied);
    }
    throw err;
  }
  // A valid token for someone else, another channel or another client is an attack or a bug
  // in the app's backend; the reference disconnects with "invalid token".
  if (claims.user !== session.user || claims.channel !== channel || (claims.client !== '' && claims.client !== session.id)) {
    throw new DisconnectError(DISCONNECTS.invalidToken, 'subscription token does not match the connection');
  }
  const grant: SubscribeGrant = { expireAt: claims.expireAt };
  if (claims.info !== undefined) grant.chanInfo = claims.info;
  if (claims.data !== undefined) grant.data = claims.data;
  if (claims.override) grant.override = claims.override;
  return grant;
}

export async function handleSubscribe(session: HandlerConnection, cmd: Extract<Command, { method: 'subscribe' }>): Promise<void> {
  const ctx = session.ctx;
  const p = cmd.params;
  if (p.channel === '') throw new DisconnectError(DISCONNECTS.badRequest, 'channel required for subscribe');
  const resolved = ctx.namespaces.resolve(p.channel);
  if (session.subs.has(p.channel)) throw new ReplyError(ERRORS.alreadySubscribed);
  if (session.subs.size >= ctx.config.maxSubscriptionsPerConnection) throw new ReplyError(ERRORS.limitExceeded);
  let grant: SubscribeGrant = { expireAt: 0 };
  if (p.token !== '') {
    grant = await verifySubscriptionToken(session, p.channel, p.token);
    if (session.isClosed()) return;
    // The token is the backend's permission; only `none` closes a namespace to everyone.
    if (resolved.options.subscribe === 'none') throw new ReplyError(ERRORS.permissionDenied);
  } else {
    if (resolved.private) throw new ReplyError(ERRORS.permissionDenied, 'private channel needs a subscription token');
    ctx.namespaces.check(resolved, 'subscribe', session);
  }
  // Checked again: a subscribe of the same channel may have been reserved while the token was verified.
  if (session.subs.has(p.channel)) throw new ReplyError(ERRORS.alreadySubscribed);
  const established = await establishSubscription(session, resolved, p, grant, false);
  completeSubscription(session, established, (result) => session.reply(cmd.id, 'subscribe', result));
}
