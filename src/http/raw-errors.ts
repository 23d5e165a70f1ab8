/**
 * Errors answered on the socket itself, where no fastify request exists: requests Node's HTTP
 * parser refuses (the server's 'clientError' event), requests that time out, and connections
 * refused before they are parsed. They get the registry's body and an x-request-id like any
 * other error, then the connection is closed: after a parse error the byte stream cannot be
 * trusted for a next request.
 */
import type { Socket } from 'node:net';
import { MycelError } from '../errors.js';
import { writeRawJsonResponse } from '../lib/raw-http-response.js';
import type { Logger } from '../log.js';

/** Node's own parse and timeout error codes, mapped onto the registry. */
function errorOf(err: NodeJS.ErrnoException): MycelError {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new MycelError('REQUEST_TIMEOUT');
    case 'HPE_HEADER_OVERFLOW':
      return new MycelError('HEADERS_TOO_LARGE');
    default:
      // The parser's code (HPE_INVALID_METHOD…) says what was wrong; its message may quote the bytes, so it stays out.
      return new MycelError('MALFORMED_REQUEST', { reason: typeof err.code === 'string' ? err.code : 'unknown' });
  }
}

/** Writes `error` as a complete HTTP/1.1 response and closes the socket; returns the request id it used. */
export function writeRawError(socket: Socket, error: MycelError, requestId?: string): string {
  return writeRawJsonResponse(socket, error.status, error.toBody(), requestId);
}

/** The part of Node's socket the server keeps for the response in flight. */
interface ServerSocket extends Socket {
  _httpMessage?: { headersSent?: boolean } | null;
}

/**
 * The server's 'clientError' handler (fastify's `clientErrorHandler` option). Node calls it for
 * bytes its parser refuses and for requests over headersTimeout/requestTimeout; without it
 * fastify answers with a body of its own and no request id.
 */
export function clientErrorHandler(log: Logger): (err: NodeJS.ErrnoException, socket: Socket) => void {
  return (err, socket) => {
    const s = socket as ServerSocket;
    // A reset or closed peer cannot be answered.
    if (err.code === 'ECONNRESET' || s.destroyed) return;
    // A response already started on this socket cannot be replaced by another one.
    if (!s.writable || s._httpMessage?.headersSent === true) {
      s.destroy();
      return;
    }
    const error = errorOf(err);
    const requestId = writeRawError(s, error);
    log.info({ reqId: requestId, code: error.code, reason: err.code, remoteAddress: s.remoteAddress }, 'request refused by the HTTP parser');
  };
}
