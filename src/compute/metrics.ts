/** Compute metrics on the node's Prometheus registry (aggregation side). */
import { Counter, Gauge, type Registry } from 'prom-client';

export class ComputeMetrics {
  readonly pollsWaiting: Gauge;
  readonly leasesReturned: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.pollsWaiting = new Gauge({ name: 'mycel_compute_polls_waiting', help: 'Clients\' long polls open on this instance, waiting for a task.', registers });
    this.leasesReturned = new Counter({ name: 'mycel_compute_leases_returned_total', help: 'Leases given back because the poll\'s connection closed before the task reached its client.', registers });
  }
}
