/**
 * `connect`: authenticates the connection (JWT, owner credentials, or anonymous), marks the
 * session connected, sets up server-side subscriptions from the token's `channels`/`subs`
 * claims (recovering them with the positions the client sends in `subs`), and answers.
 */
import { TOKEN_KEYS_UNAVAILABLE_MESSAGE, TokenError, type ServerSubClaim } from '../auth/tokens.js';
import type { ResolvedChannel } from '../namespaces.js';
import { DISCONNECTS, DisconnectError, ERRORS, ReplyError } from '../protocol/codes.js';
import type { Command, WireConnectResult, WireSubscribeResult } from '../protocol/frames.js';
import type { HandlerConnection } from './handler-connection.js';
import { establishSubscription, type Established } from './subscribe.js';

interface Identity {
  user: string;
  owner: boolean;
  info: unknown;
  expireAt: number;
  channels: string[];
  subs: Record<string, ServerSubClaim>;
}

/** A JWT is three base64url parts; anything else goes to the node's ConnectCredentials if there are any. */
function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
}

async function authenticate(session: HandlerConnection, token: string): Promise<Identity> {
  const ctx = session.ctx;
  if (token === '') {
    if (!ctx.config.allowAnonymous) throw new DisconnectError(DISCONNECTS.badRequest, 'connection credentials required');
    return { user: '', owner: false, info: undefined, expireAt: 0, channels: [], subs: {} };
  }
  if (ctx.credentials && !looksLikeJwt(token)) {
    const found = await ctx.credentials(token);
    if (!found) throw new DisconnectError(DISCONNECTS.invalidToken);
    return { user: found.user, owner: found.owner, info: found.info, expireAt: 0, channels: [], subs: {} };
  }
  try {
    const claims = await ctx.tokens.verifyConnection(token);
    return { user: claims.user, owner: false, info: claims.info, expireAt: claims.expireAt, channels: claims.channels, subs: claims.subs };
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    if (err.kind === 'expired') throw new ReplyError(ERRORS.tokenExpired);
    // The keys cannot be fetched now (JWKS down): temporary, the client reconnects with backoff.
    if (err.kind === 'unavailable') throw new ReplyError(ERRORS.internal, TOKEN_KEYS_UNAVAILABLE_MESSAGE);
    throw new DisconnectError(DISCONNECTS.invalidToken);
  }
}

export async function handleConnect(session: HandlerConnection, cmd: Extract<Command, { method: 'connect' }>): Promise<void> {
  if (session.state !== 'connecting' || session.connectStarted) throw new DisconnectError(DISCONNECTS.badRequest, 'already connected');
  session.connectStarted = true;
  const ctx = session.ctx;
  const p = cmd.params;
  const identity = await authenticate(session, p.token);
  if (session.isClosed()) return;

  // Resolve server-side channels before connecting, so a bad claim fails the connect cleanly.
  const serverChannels: ResolvedChannel[] = [];
  for (const channel of new Set([...identity.channels, ...Object.keys(identity.subs)])) {
    serverChannels.push(ctx.namespaces.resolve(channel));
  }
  if (serverChannels.length > ctx.config.maxSubscriptionsPerConnection) throw new ReplyError(ERRORS.limitExceeded);

  session.user = identity.user;
  session.owner = identity.owner;
  session.connInfo = identity.info;
  session.expireAt = identity.expireAt;
  session.clientName = p.name;
  session.clientVersion = p.version;
  if (!session.markConnected()) return;

  const established: Established[] = [];
  try {
    for (const resolved of serverChannels) {
      const claim = identity.subs[resolved.channel] ?? {};
      const recovery = p.subs[resolved.channel];
      const grant: { expireAt: number; chanInfo?: unknown; data?: unknown; override?: ServerSubClaim['override'] } = { expireAt: 0 };
      if (claim.info !== undefined) grant.chanInfo = claim.info;
      if (claim.data !== undefined) grant.data = claim.data;
      if (claim.override) grant.override = claim.override;
      established.push(
        await establishSubscription(
          session,
          resolved,
          {
            channel: resolved.channel,
            recover: recovery?.recover ?? false,
            offset: recovery?.offset ?? 0,
            epoch: recovery?.epoch ?? '',
            flag: 0,
            joinLeave: false,
            positioned: false,
          },
          grant,
          true,
        ),
      );
    }
  } catch (err) {
    if (session.isClosed()) return;
    // Connected already: the client can only learn this by reconnecting.
    ctx.log.error({ err, client: session.id }, 'server-side subscription on connect failed');
    ctx.metrics.error('connect_server_subs');
    session.close(DISCONNECTS.internal);
    return;
  }
  if (session.isClosed()) return;

  const result: WireConnectResult = { client: session.id, version: ctx.version };
  if (session.expireAt > 0) {
    result.expires = true;
    result.ttl = Math.max(1, session.expireAt - Math.floor(Date.now() / 1000));
  }
  if (established.length > 0) {
    const subs: Record<string, WireSubscribeResult> = {};
    for (const e of established) subs[e.sub.channel] = e.result;
    result.subs = subs;
  }
  if (ctx.config.pingIntervalSeconds > 0) {
    result.ping = ctx.config.pingIntervalSeconds;
    result.pong = true;
  }
  if (session.transport.emulation) {
    result.session = session.sessionKey;
    result.node = ctx.instanceId;
  }
  try {
    session.reply(cmd.id, 'connect', result);
  } catch (err) {
    // A result that cannot be written: nothing may stay registered for a connect that failed.
    for (const e of established) session.removeSubscription(e.sub, false);
    throw err;
  }
  for (const e of established) session.activate(e.sub);
}
