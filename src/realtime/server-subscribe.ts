/**
 * Server-side subscriptions (the server API's `subscribe`, reaching each instance as a control
 * message): the connection gets a subscribe push instead of a reply, and the subscription is
 * not the client's to end.
 */
import type { Logger } from '../log.js';
import type { ClientConnection } from './client-connection.js';
import { completeSubscription, establishSubscription } from './handlers/subscribe.js';
import type { RealtimeMetrics } from './metrics.js';
import type { Namespaces } from './namespaces.js';
import { encodeSubscribePush } from './protocol/frames.js';

export interface ServerSubscribeDeps {
  namespaces: Namespaces;
  metrics: RealtimeMetrics;
  log: Logger;
}

/** Subscribes a connected connection to `channel` unless it already is; failures are logged and counted. */
export async function serverSubscribe(conn: ClientConnection, channel: string, deps: ServerSubscribeDeps): Promise<void> {
  if (conn.state !== 'connected' || conn.subs.has(channel)) return;
  const resolved = deps.namespaces.tryResolve(channel);
  if (typeof resolved === 'string') return;
  try {
    const established = await establishSubscription(
      conn,
      resolved,
      { channel, recover: false, offset: 0, epoch: '', flag: 0, joinLeave: false, positioned: false },
      { expireAt: 0 },
      true,
    );
    completeSubscription(conn, established, (result) => conn.send(encodeSubscribePush(channel, result)));
  } catch (err) {
    if (conn.isClosed()) return;
    deps.metrics.error('server_subscribe');
    deps.log.error({ err, channel, client: conn.id }, 'server-side subscribe failed');
  }
}
