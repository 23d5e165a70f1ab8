/**
 * Prometheus metrics of the realtime node. Hot-path counts (messages out, commands in) are plain
 * numbers bumped in place and handed to prom-client when it scrapes, so a delivery costs an
 * addition and no label hashing.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

function reuse<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export type DropReason = 'slow' | 'rate' | 'no_send_handler' | 'closed' | 'send_queue';

export class RealtimeMetrics {
  /** Deliveries written to transports (pushes and replies). */
  messagesOut = 0;
  /** Commands received (pongs included). */
  messagesIn = 0;
  readonly drops: Record<DropReason, number> = { slow: 0, rate: 0, no_send_handler: 0, closed: 0, send_queue: 0 };
  readonly disconnects = new Map<number, number>();
  readonly errors = new Map<string, number>();

  constructor(registry: Registry | undefined, stats: () => { connections: number; subscriptions: number; channels: number }) {
    if (!registry) return;
    const self = this;
    reuse(registry, 'mycel_realtime_connections', () =>
      new Gauge({
        name: 'mycel_realtime_connections',
        help: 'Realtime client connections on this instance',
        registers: [registry],
        collect() {
          this.set(stats().connections);
        },
      }),
    );
    reuse(registry, 'mycel_realtime_subscriptions', () =>
      new Gauge({
        name: 'mycel_realtime_subscriptions',
        help: 'Channel subscriptions of the connections on this instance',
        registers: [registry],
        collect() {
          this.set(stats().subscriptions);
        },
      }),
    );
    reuse(registry, 'mycel_realtime_channels', () =>
      new Gauge({
        name: 'mycel_realtime_channels',
        help: 'Channels with at least one subscriber on this instance',
        registers: [registry],
        collect() {
          this.set(stats().channels);
        },
      }),
    );
    let reportedOut = 0;
    reuse(registry, 'mycel_realtime_messages_out_total', () =>
      new Counter({
        name: 'mycel_realtime_messages_out_total',
        help: 'Frames written to realtime clients (publications, pushes, replies, pings)',
        registers: [registry],
        collect() {
          this.inc(self.messagesOut - reportedOut);
          reportedOut = self.messagesOut;
        },
      }),
    );
    let reportedIn = 0;
    reuse(registry, 'mycel_realtime_messages_in_total', () =>
      new Counter({
        name: 'mycel_realtime_messages_in_total',
        help: 'Commands received from realtime clients',
        registers: [registry],
        collect() {
          this.inc(self.messagesIn - reportedIn);
          reportedIn = self.messagesIn;
        },
      }),
    );
    const reportedDrops: Record<string, number> = {};
    reuse(registry, 'mycel_realtime_drops_total', () =>
      new Counter<'reason'>({
        name: 'mycel_realtime_drops_total',
        help: 'Messages or commands dropped, by reason (slow = slow consumer disconnected, rate = rate limited)',
        labelNames: ['reason'],
        registers: [registry],
        collect() {
          for (const [reason, n] of Object.entries(self.drops)) {
            this.inc({ reason }, n - (reportedDrops[reason] ?? 0));
            reportedDrops[reason] = n;
          }
        },
      }),
    );
    const reportedDisconnects = new Map<number, number>();
    reuse(registry, 'mycel_realtime_disconnects_total', () =>
      new Counter<'code'>({
        name: 'mycel_realtime_disconnects_total',
        help: 'Closed realtime connections, by disconnect code (3008 = slow consumer)',
        labelNames: ['code'],
        registers: [registry],
        collect() {
          for (const [code, n] of self.disconnects) {
            this.inc({ code: String(code) }, n - (reportedDisconnects.get(code) ?? 0));
            reportedDisconnects.set(code, n);
          }
        },
      }),
    );
    const reportedErrors = new Map<string, number>();
    reuse(registry, 'mycel_realtime_errors_total', () =>
      new Counter<'op'>({
        name: 'mycel_realtime_errors_total',
        help: 'Failed back-end operations (bus, presence, history) by operation',
        labelNames: ['op'],
        registers: [registry],
        collect() {
          for (const [op, n] of self.errors) {
            this.inc({ op }, n - (reportedErrors.get(op) ?? 0));
            reportedErrors.set(op, n);
          }
        },
      }),
    );
  }

  disconnected(code: number): void {
    this.disconnects.set(code, (this.disconnects.get(code) ?? 0) + 1);
  }

  error(op: string): void {
    this.errors.set(op, (this.errors.get(op) ?? 0) + 1);
  }
}
