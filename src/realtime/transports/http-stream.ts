/**
 * HTTP-streaming: one POST whose response stays open and carries one JSON object per line.
 *
 * - `http_stream` (bidirectional emulation, the centrifuge client's `http_stream` transport):
 *   `POST /connection/http_stream`, body = the connect command. 200, then one reply or push per
 *   line; the first line is the connect reply with `session` and `node`, which later commands
 *   sent to `POST /emulation` name. A disconnect is a `{"push":{"disconnect":..}}` line, then
 *   the response ends.
 * - `uni_http_stream` (unidirectional): `POST /connection/uni_http_stream`, body = a bare
 *   ConnectRequest; bare pushes per line (see unidirectional.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeDisconnectPush } from '../protocol/frames.js';
import type { RealtimeNode } from '../realtime-node.js';
import { connectionMeta, NDJSON_FORMAT, ResponseStreamTransport, streamHeaders, type ResponseStreamOptions } from './response-stream.js';
import { serveUniStream, type UniResponseStreamTransport } from './unidirectional.js';

const CONTENT_TYPE = 'application/x-ndjson; charset=utf-8';

export interface ServeStreamOptions extends ResponseStreamOptions {
  /** Further response headers (CORS). */
  headers?: Record<string, string>;
}

/**
 * Opens an emulation stream on `res` and feeds `connectFrame` (the client's connect command as
 * it sent it) to a new session. The caller has checked that it is not empty and within
 * realtime.maxMessageBytes; anything malformed in it ends the stream with disconnect 3501.
 */
export function serveHttpStream(
  node: RealtimeNode,
  req: IncomingMessage,
  res: ServerResponse,
  connectFrame: string,
  options: ServeStreamOptions = {},
): ResponseStreamTransport {
  const transport = new ResponseStreamTransport(res, 'http_stream', true, NDJSON_FORMAT, encodeDisconnectPush, options);
  transport.open({ ...streamHeaders(CONTENT_TYPE, req), ...options.headers });
  const session = node.connect(transport, connectionMeta(req));
  transport.attach(session);
  session.handleFrame(connectFrame);
  return transport;
}

/** Opens a unidirectional HTTP stream; `connectCommand` comes from `uniConnectCommand`. */
export function serveUniHttpStream(
  node: RealtimeNode,
  req: IncomingMessage,
  res: ServerResponse,
  connectCommand: string,
  options: ServeStreamOptions = {},
): UniResponseStreamTransport {
  return serveUniStream(node, 'uni_http_stream', NDJSON_FORMAT, CONTENT_TYPE, req, res, connectCommand, options);
}
