/**
 * Unidirectional transports (uni_sse, uni_http_stream, uni_websocket): for consumers that only
 * listen. The client sends one bare ConnectRequest when it opens the connection and nothing
 * after; subscriptions come from the connection token's `channels`/`subs` claims and from the
 * server API's `subscribe`. What it receives are bare Push objects, one per line or message:
 *
 *   {"connect":{"client":..,"version":..,"subs":{..},"ping":25}}   first
 *   {"channel":"ch","pub":{"data":..,"offset":5}}                  publications, join/leave, …
 *   {"channel":"ch","subscribe":{..}}                              server-side subscribe
 *   {}                                                             ping (no pong expected)
 *   {"disconnect":{"code":3001,"reason":"shutdown"}}               then the stream ends
 *
 * The session speaks the bidirectional protocol, so the transport translates its output: the
 * connect reply becomes the `connect` push, `{"push":X}` becomes X, and a connect that fails
 * with a reply error ends the connection with a disconnect instead (the reference mapping).
 * Such a client cannot answer pings, so the transport acknowledges each ping for it: the
 * session's pong deadline is then never the reason to drop it; a dead peer is found by the
 * write path (the socket closes, or its unread bytes pass maxQueuedBytes: 3008).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DISCONNECTS, ERRORS, type DisconnectCode } from '../protocol/codes.js';
import { PING_FRAME, forEachLine } from '../protocol/frames.js';
import type { RealtimeNode } from '../realtime-node.js';
import type { ClientConnection } from '../client-connection.js';
import type { TransportName } from '../transport.js';
import {
  ResponseStreamTransport,
  startStream,
  type ResponseStreamOptions,
  type ServeStreamOptions,
  type StreamFormat,
  type StreamKind,
} from './response-stream.js';

/** The id the connect command of a unidirectional connection gets (the reply is matched by it). */
const CONNECT_ID = 1;
const CONNECT_REPLY_PREFIX = `{"id":${CONNECT_ID},"connect":`;
const ERROR_REPLY_PREFIX = `{"id":${CONNECT_ID},"error":`;
const PUSH_PREFIX = '{"push":';

/**
 * The disconnect that ends a unidirectional connection whose connect failed with a reply
 * error. Expired tokens reconnect (3005) as in the reference; mistakes that a retry cannot fix
 * (unknown channel in the claims, bad request, limits) are terminal (3501) rather than the
 * reference's 3004, so a misconfigured consumer does not hammer the server.
 */
export function uniConnectErrorDisconnect(code: number): DisconnectCode {
  switch (code) {
    case ERRORS.tokenExpired.code:
    case ERRORS.expired.code:
      return DISCONNECTS.expired;
    case ERRORS.tooManyRequests.code:
      return DISCONNECTS.tooManyRequests;
    case ERRORS.permissionDenied.code:
      return DISCONNECTS.permissionDenied;
    case ERRORS.unauthorized.code:
    case ERRORS.unknownChannel.code:
    case ERRORS.limitExceeded.code:
    case ERRORS.badRequest.code:
      return DISCONNECTS.badRequest;
    default:
      return DISCONNECTS.internal;
  }
}

/** `{"disconnect":{"code","reason"}}`: the last line of a unidirectional stream. */
export function encodeUniDisconnect(code: number, reason: string): string {
  return `{"disconnect":${JSON.stringify({ code, reason })}}`;
}

/**
 * Parses a bare ConnectRequest (`{"token":..,"data":..,"subs":..,"name":..}`) into the connect
 * command a session understands. Returns null when it is not a JSON object. An empty request
 * is `{}` (anonymous, if the server allows it).
 */
export function uniConnectCommand(request: string): string | null {
  if (request.trim() === '') return `{"id":${CONNECT_ID},"connect":{}}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(request);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  // Re-encoded: a pretty-printed request must become one line.
  return `{"id":${CONNECT_ID},"connect":${JSON.stringify(parsed)}}`;
}

/** Translates session output for a unidirectional client and answers its pings (see the top). */
export class UniTranslator {
  #session: ClientConnection | null = null;

  attach(session: ClientConnection): void {
    this.#session = session;
  }

  /** The bare pushes to send for one frame the session wrote, in order. */
  translate(frame: string): string[] {
    const out: string[] = [];
    forEachLine(frame, (line) => {
      if (line === PING_FRAME) {
        out.push(PING_FRAME);
        const session = this.#session;
        // After the write returns: the session counts the ping as outstanding first.
        if (session) queueMicrotask(() => session.handleFrame(PING_FRAME));
      } else if (line.startsWith(PUSH_PREFIX)) {
        out.push(line.slice(PUSH_PREFIX.length, -1));
      } else if (line.startsWith(CONNECT_REPLY_PREFIX)) {
        out.push(`{"connect":${line.slice(CONNECT_REPLY_PREFIX.length)}`);
      } else if (line.startsWith(ERROR_REPLY_PREFIX)) {
        const session = this.#session;
        const code = errorCode(line);
        if (session) queueMicrotask(() => session.close(uniConnectErrorDisconnect(code)));
      }
      // Nothing else can come: a unidirectional client sends no other command.
      return true;
    });
    return out;
  }
}

function errorCode(line: string): number {
  try {
    const reply = JSON.parse(line) as { error?: { code?: unknown } };
    return typeof reply.error?.code === 'number' ? reply.error.code : ERRORS.internal.code;
  } catch {
    return ERRORS.internal.code;
  }
}

/** A ResponseStreamTransport that writes translated, bare pushes. */
export class UniResponseStreamTransport extends ResponseStreamTransport {
  readonly #translator = new UniTranslator();

  constructor(res: ServerResponse, name: TransportName, format: StreamFormat, options: ResponseStreamOptions = {}) {
    super(res, name, false, format, encodeUniDisconnect, options);
  }

  override attach(session: ClientConnection): void {
    super.attach(session);
    this.#translator.attach(session);
  }

  override write(data: string): void {
    for (const line of this.#translator.translate(data)) super.write(line);
  }
}

/** Opens a unidirectional stream of `kind` on `res`; `connectCommand` comes from `uniConnectCommand`. */
export function serveUniResponseStream(
  kind: StreamKind,
  node: RealtimeNode,
  req: IncomingMessage,
  res: ServerResponse,
  connectCommand: string,
  options: ServeStreamOptions = {},
): UniResponseStreamTransport {
  const transport = new UniResponseStreamTransport(res, kind.uniName, kind.format, options);
  return startStream(node, req, transport, kind.contentType, connectCommand, options.headers);
}
