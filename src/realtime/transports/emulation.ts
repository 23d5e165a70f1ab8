/**
 * The emulation endpoint (`POST /emulation`): how clients on the http_stream and sse
 * transports send commands after connect. The body is
 *
 *   {"session":"<connect result session>","node":"<connect result node>","data":"<commands>"}
 *
 * where `data` is a STRING holding the command lines joined by `\n` (pongs `{}` included). The
 * commands go to the session; their replies come down the session's stream, so the answer is
 * just 204. Requests may arrive out of order (the client does not wait for one before the
 * next), as with the reference server.
 *
 * Several instances: `node` names the instance that holds the session. A request that reaches
 * another instance (a load balancer without sticky sessions) is forwarded over the Bus control
 * channel, where only that instance acts on it. A session this instance should hold but does
 * not (closed, or the process restarted with the same id) is answered 404, on which the client
 * reconnects.
 */
import type { RealtimeNode } from '../realtime-node.js';

/** Largest emulation request body accepted, in bytes (the reference's limit). */
export const EMULATION_MAX_BYTES = 64 * 1024;

export type EmulationOutcome =
  | { status: 204 }
  | { status: 400; message: string }
  | { status: 404; message: string };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates an emulation request body and hands its commands to the session's instance. */
export async function handleEmulationRequest(node: RealtimeNode, body: string): Promise<EmulationOutcome> {
  let req: unknown;
  try {
    req = JSON.parse(body);
  } catch {
    return { status: 400, message: 'the body is not valid JSON' };
  }
  if (!isObject(req)) return { status: 400, message: 'the body must be a JSON object {session, node, data}' };
  const { session, node: target, data } = req;
  if (typeof session !== 'string' || session === '') return { status: 400, message: 'session must be a non-empty string' };
  if (typeof target !== 'string' || target === '') return { status: 400, message: 'node must be a non-empty string' };
  if (typeof data !== 'string') return { status: 400, message: 'data must be a string of commands joined by newlines' };
  const delivered = await node.emulate(target, session, data);
  if (!delivered) return { status: 404, message: 'no such session on this node; reconnect' };
  return { status: 204 };
}
