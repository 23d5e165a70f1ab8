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
 *
 * Served by `serveResponseStream` (response-stream.ts) and `serveUniResponseStream`
 * (unidirectional.ts) with this kind.
 */
import { SSE_FORMAT, type StreamKind } from './response-stream.js';

export const SSE: StreamKind = {
  name: 'sse',
  uniName: 'uni_sse',
  format: SSE_FORMAT,
  contentType: 'text/event-stream; charset=utf-8',
};

/** The query parameter that carries the connect command (centrifuge-js); `connect` is the older name. */
export const SSE_CONNECT_PARAMS = ['cf_connect', 'connect'] as const;
