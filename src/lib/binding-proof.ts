import { createHmac } from 'node:crypto';

/**
 * The proof that a compute client holds a project's token, for one datasource binding
 * (docs/compute.md "Node side", trust model). The client computes
 *
 *   HMAC-SHA256(key = project token, message = "mycel-compute-bind-v1\n" + publicKey + "\n" + datasource)
 *
 * for each token its datasource lists and sends the proofs when it joins; the node, which holds
 * the same tokens in its configuration (compute.projects), recomputes them. The token itself is
 * never sent; a proof binds one datasource to one client key, so it is of no use to another client.
 */
export function bindingProof(token: string, publicKey: string, datasource: string): string {
  return createHmac('sha256', token).update(`mycel-compute-bind-v1\n${publicKey}\n${datasource}`).digest('base64url');
}
