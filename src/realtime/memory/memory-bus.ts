import type { Logger } from '../../log.js';
import { MycelError } from '../../errors.js';
import type { Bus, BusHandler } from '../bus.js';
import { dispatchToHandler } from '../bus-dispatch.js';
import { checkBusMessage } from '../bus-limits.js';
import type { BusMessage, ControlCommand, HistoryOptions, StreamPosition } from '../types.js';
import { checkHistoryOptions } from '../stream-rules.js';
import { MemoryStreams, type MemoryEndpoint } from './memory-streams.js';

export interface MemoryBusOptions {
  /** Shared with other buses to act as several instances of one node (tests); a new one by default. */
  streams?: MemoryStreams;
  logger?: Logger;
}

/** Counters a metrics exporter can read; errors thrown by the handler land here, not in the publisher. */
export interface MemoryBusStats {
  handlerErrors: number;
}

/** The single-process Bus: fan-out and history live in a MemoryStreams. */
export class MemoryBus implements Bus {
  readonly streams: MemoryStreams;
  readonly stats: MemoryBusStats = { handlerErrors: 0 };
  private readonly logger: Logger | undefined;
  private readonly channels = new Set<string>();
  private readonly endpoint: MemoryEndpoint;
  private handler: BusHandler | undefined;
  private closed = false;

  constructor(options: MemoryBusOptions = {}) {
    this.streams = options.streams ?? new MemoryStreams();
    this.logger = options.logger;
    this.endpoint = {
      receive: (channel, message) => {
        if (this.closed || !this.channels.has(channel)) return;
        this.dispatch('message', () => this.handler?.onMessage(channel, message));
      },
      receiveControl: (command) => {
        if (this.closed) return;
        this.dispatch('control', () => this.handler?.onControl(command));
      },
    };
    this.streams.attach(this.endpoint);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async publish(channel: string, message: BusMessage, history?: HistoryOptions): Promise<StreamPosition | null> {
    this.assertOpen();
    checkBusMessage(message);
    if (message.type !== 'pub' || !history) {
      this.streams.fanOut(channel, message);
      return null;
    }
    checkHistoryOptions(history);
    const { publication, position } = this.streams.append(channel, message.publication, history);
    this.streams.fanOut(channel, { type: 'pub', publication, epoch: position.epoch });
    return position;
  }

  async subscribe(channel: string): Promise<void> {
    this.assertOpen();
    this.channels.add(channel);
    this.streams.subscribe(channel, this.endpoint);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    this.streams.unsubscribe(channel, this.endpoint);
  }

  async publishControl(command: ControlCommand): Promise<void> {
    this.assertOpen();
    this.streams.broadcastControl(command);
  }

  setHandler(handler: BusHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.streams.detach(this.endpoint, this.channels);
    this.channels.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new MycelError('SHUTTING_DOWN', { component: 'bus' });
  }

  /** Calls the handler; see dispatchToHandler for why a throw is counted rather than passed on. */
  private dispatch(kind: string, fn: () => void): void {
    dispatchToHandler(this.stats, this.logger, kind, fn);
  }
}
