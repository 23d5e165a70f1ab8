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
 *
 * Served by `serveResponseStream` (response-stream.ts) and `serveUniResponseStream`
 * (unidirectional.ts) with this kind.
 */
import { NDJSON_FORMAT, type StreamKind } from './response-stream.js';

export const HTTP_STREAM: StreamKind = {
  name: 'http_stream',
  uniName: 'uni_http_stream',
  format: NDJSON_FORMAT,
  contentType: 'application/x-ndjson; charset=utf-8',
};
