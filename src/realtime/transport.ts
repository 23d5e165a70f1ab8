/**
 * What a ClientConnection writes to. A transport adapter (WebSocket, HTTP-streaming, SSE, …) implements
 * this, calls `RealtimeNode.connect(transport, meta)` for a new connection, hands every frame it
 * receives to `ClientConnection.handleFrame`, and calls `ClientConnection.onTransportClosed` when the underlying
 * connection ends. The core never imports a transport library.
 */
export type TransportName = 'websocket' | 'http_stream' | 'sse' | 'uni_websocket' | 'uni_sse' | 'uni_http_stream' | 'direct';

export interface Transport {
  readonly name: TransportName;
  /**
   * True for the bidirectional emulation transports (http_stream, sse): the connect result then
   * carries `session` and `node`, and a disconnect is sent as a `disconnect` push before the
   * stream ends, since those transports have no close code.
   */
  readonly emulation: boolean;
  /**
   * Queues one frame (one or more JSON lines without a trailing newline). Must not throw; a
   * transport that can no longer write drops the data (the session is closed by then).
   */
  write(data: string): void;
  /** Bytes written but not yet handed to the kernel; the session disconnects slow consumers (3008) by it. */
  bufferedBytes(): number;
  /**
   * Ends the connection with a disconnect code and reason (WebSocket: a close frame; emulation
   * transports: the `disconnect` push, then the end of the stream). Called at most once, by the
   * session, after it is closed: a later `onTransportClosed` from the transport is ignored.
   */
  close(code: number, reason: string): void;
}

/** What the server knows about the request that opened a connection. */
export interface ConnectionMeta {
  remoteAddress?: string;
  userAgent?: string;
  /** Request headers, lower-case names. */
  headers?: Record<string, string>;
}
