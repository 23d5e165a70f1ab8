/**
 * Replication metrics on the node's Prometheus registry, labelled by peer node id (a node
 * has few peers, so the label stays small).
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export class NetworkMetrics {
  readonly lagChanges: Gauge<'peer'>;
  readonly lagSeconds: Gauge<'peer'>;
  readonly imported: Counter<'peer'>;
  readonly sent: Counter<'peer'>;
  readonly errors: Counter<'peer' | 'code'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.lagChanges = new Gauge({ name: 'mycel_replication_lag_changes', help: 'Changes of the peer\'s log not yet imported here (its head when last heard minus the cursor).', labelNames: ['peer'], registers });
    this.lagSeconds = new Gauge({ name: 'mycel_replication_lag_seconds', help: 'Age of the last imported change of the peer while behind its head; 0 when caught up.', labelNames: ['peer'], registers });
    this.imported = new Counter({ name: 'mycel_replication_imported_changes_total', help: 'Changes imported from the peer (skipped repeats not counted).', labelNames: ['peer'], registers });
    this.sent = new Counter({ name: 'mycel_replication_sent_changes_total', help: 'Changes sent to the peer.', labelNames: ['peer'], registers });
    this.errors = new Counter({ name: 'mycel_replication_errors_total', help: 'Errors that ended or disturbed a link with the peer, by code.', labelNames: ['peer', 'code'], registers });
  }
}
