import type { BusMessage, ControlCommand, HistoryOptions, StreamPosition } from './types.js';

/**
 * The fan-out path between instances (memory: one process; Redis: many). Conformance suite:
 * test/integration/realtime-bus-conformance.test.ts, run against every implementation.
 *
 * Ordering: messages of one channel reach every subscriber instance in publish order.
 * Atomicity: `publish` with history options appends to the channel's history and fans out in
 * one step, so offsets arrive in order and no subscriber sees an offset that history lacks.
 */
export interface Bus {
  /**
   * Publishes to a channel. With `history`, a `pub` message is first given the next offset of
   * the channel's stream (its `publication.offset` is overwritten) and the resolved position is
   * that of the new publication; without it the position is null.
   * The overwrite happens on the delivered copy, which also carries the stream's `epoch`; the
   * caller's object is not modified. `history` is ignored for join/leave (position null).
   * Rejects, appending and delivering nothing, a message that cannot be encoded faithfully
   * (bus-limits.ts): nested deeper than MAX_ENCODED_DEPTH or with a non-finite number.
   */
  publish(channel: string, message: BusMessage, history?: HistoryOptions): Promise<StreamPosition | null>;

  /** Starts receiving a channel's messages on this instance; idempotent. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;

  /** Sends a command to every instance, this one included. */
  publishControl(command: ControlCommand): Promise<void>;

  /** Sets the one handler for channel messages and control commands on this instance. */
  setHandler(handler: BusHandler): void;

  close(): Promise<void>;
}

export interface BusHandler {
  onMessage(channel: string, message: BusMessage): void;
  onControl(command: ControlCommand): void;
  /**
   * The bus lost its connection and is back: subscriptions were re-established, but messages
   * may have been missed in between. The Hub then checks stream positions of its channels.
   */
  onReconnect?(): void;
}
