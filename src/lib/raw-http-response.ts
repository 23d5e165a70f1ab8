/**
 * A complete HTTP/1.1 response written straight to a socket, for the places where no
 * framework response object exists: requests the parser refused, refused connections and
 * upgrades. JSON body, an x-request-id like every other response, `Connection: close`; the
 * socket is destroyed once the bytes are flushed (a peer still sending must not keep it open).
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** Writes the response and returns the request id it carries. */
export function writeRawJsonResponse(socket: Duplex, status: number, body: unknown, requestId: string = randomUUID()): string {
  const text = JSON.stringify(body);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(text)}`,
    `x-request-id: ${requestId}`,
    'connection: close',
  ];
  if (socket.writable) socket.write(`${head.join('\r\n')}\r\n\r\n${text}`, () => socket.destroy());
  else socket.destroy();
  return requestId;
}
