/**
 * Server-Sent Events: one GET whose `text/event-stream` response stays open. The stream starts
 * with `\r\n`; every line is one event `data: <json>\n\n`, without an event name.
 *
 * - `sse` (bidirectional emulation, the centrifuge client's `sse` transport):
 *   `GET /connection/sse?cf_connect=<url-encoded connect command>`. Later commands go to
 *   `POST /emulation` with the `session` and `node` of the connect result. A disconnect is a
 *   `{"push":{"disconnect":..}}` event, then the stream ends.
 * - `uni_sse` (unidirectional): `GET /connection/uni_sse?cf_connect=<url-encoded bare
 *   ConnectRequest>`; bare pushes (see unidirectional.ts). Any EventSource can consume it.
 *
 * The connect token travels in the URL here (EventSource cannot send a body or headers), so
 * HTTP layers should keep these URLs out of their request logs.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeDisconnectPush } from '../protocol/frames.js';
import type { RealtimeNode } from '../realtime-node.js';
import type { ServeStreamOptions } from './http-stream.js';
import { connectionMeta, ResponseStreamTransport, SSE_FORMAT, streamHeaders } from './response-stream.js';
import { serveUniStream, type UniResponseStreamTransport } from './unidirectional.js';

const CONTENT_TYPE = 'text/event-stream; charset=utf-8';

/** The query parameter that carries the connect command (centrifuge-js); `connect` is the older name. */
export const SSE_CONNECT_PARAMS = ['cf_connect', 'connect'] as const;

/** Opens an emulation SSE stream; `connectFrame` is the decoded `cf_connect` parameter. */
export function serveSse(
  node: RealtimeNode,
  req: IncomingMessage,
  res: ServerResponse,
  connectFrame: string,
  options: ServeStreamOptions = {},
): ResponseStreamTransport {
  const transport = new ResponseStreamTransport(res, 'sse', true, SSE_FORMAT, encodeDisconnectPush, options);
  transport.open({ ...streamHeaders(CONTENT_TYPE, req), ...options.headers });
  const session = node.connect(transport, connectionMeta(req));
  transport.attach(session);
  session.handleFrame(connectFrame);
  return transport;
}

/** Opens a unidirectional SSE stream; `connectCommand` comes from `uniConnectCommand`. */
export function serveUniSse(
  node: RealtimeNode,
  req: IncomingMessage,
  res: ServerResponse,
  connectCommand: string,
  options: ServeStreamOptions = {},
): UniResponseStreamTransport {
  return serveUniStream(node, 'uni_sse', SSE_FORMAT, CONTENT_TYPE, req, res, connectCommand, options);
}
