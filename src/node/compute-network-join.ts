/**
 * A further aggregation node joins the network of another (docs/compute.md "A network of
 * nodes"): `compute.mode: node` with `compute.join.url` (and `compute.join.first` false). On its
 * first start it presents `compute.join.invitation` with its node id and a password it makes
 * (`POST /api/v1/compute/nodes`): the node there registers it as a read-only child node. It
 * then keeps that node as a server entry of its network (stored, so later starts need no
 * invitation and connect at once), pulls its database, and serves and relays its clients.
 *
 * The start is not held up by the other node: the join runs in the background, retried with
 * backoff while that node cannot be reached (or answers 5xx); a refusal (a used or expired
 * invitation, NODE_EXISTS) is logged as an error and not retried. A missing invitation on the
 * first start, or `first` together with `url`, stops the start with CONFIG_INVALID.
 */
import type { Config } from '../config/schema.js';
import { errorFromAnswer, MycelError } from '../errors.js';
import { randomToken } from '../lib/ids.js';
import { requestJson } from '../lib/json-request.js';
import type { Logger } from '../log.js';
import type { ServerRole, ServerTransport } from '../model/network.js';
import { backoffDelay } from '../network/backoff.js';

export interface JoinTarget {
  listServers(): Array<{ url: string }>;
  addServer(entry: { url: string; password: string; role: ServerRole; transport?: ServerTransport }): Promise<unknown>;
}

/** What a node of this configuration must do: nothing (null), or join `url` with `invitation`. Throws CONFIG_INVALID. */
export function computeNetworkJoin(config: Config, servers: JoinTarget): { url: string; invitation: string } | null {
  const { mode, join } = config.compute;
  if (mode !== 'node' || join.url === undefined) return null;
  if (join.first) throw new MycelError('CONFIG_INVALID', { key: 'compute.join.first' }, 'compute.join.first starts a network and compute.join.url joins one: set one of them');
  const url = join.url.replace(/\/+$/, '');
  // Joined on an earlier start (its entry is stored), or configured by hand under network.servers.
  if (servers.listServers().some((s) => s.url === url)) return null;
  if (join.invitation === undefined) {
    throw new MycelError('CONFIG_INVALID', { key: 'compute.join.invitation' }, `compute.join.invitation is needed for the first start of a node joining ${url} (issue one there: mycel compute invite)`);
  }
  return { url, invitation: join.invitation };
}

/** Joins in the background until it succeeds, is refused, or `signal` aborts. */
export async function joinComputeNetwork(
  target: { url: string; invitation: string },
  deps: { nodeId: string; servers: JoinTarget; log: Logger; signal: AbortSignal },
): Promise<void> {
  const password = randomToken(32);
  for (let attempt = 0; !deps.signal.aborted; attempt++) {
    const answer = await requestJson(`${target.url}/api/v1/compute/nodes`, { method: 'POST', body: { invitation: target.invitation, nodeId: deps.nodeId, password }, timeoutMs: 30_000 });
    if (answer.kind === 'answered' && answer.status === 201) {
      await deps.servers.addServer({ url: target.url, password, role: 'child' });
      deps.log.info({ url: target.url }, 'joined the compute network: pulling the node there and relaying its clients');
      return;
    }
    if (answer.kind === 'answered' && answer.status < 500) {
      const err = errorFromAnswer(answer.status, answer.json, { url: target.url, method: 'POST', path: '/api/v1/compute/nodes' });
      deps.log.error({ url: target.url, code: err.code, reason: err.message }, 'joining the compute network was refused; not retried (issue a new invitation and restart)');
      return;
    }
    // The node network's reconnect delays: the join goes to the node its link will connect to.
    const delay = backoffDelay(attempt);
    deps.log.warn({ url: target.url, reason: answer.kind === 'unreachable' ? answer.reason : `HTTP ${answer.status}`, retryInMs: Math.round(delay) }, 'compute network: the node to join cannot be reached; trying again');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      deps.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
}
