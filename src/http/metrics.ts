import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Histogram, type Registry } from 'prom-client';

const REQUESTS = 'mycel_http_requests_total';
const DURATION = 'mycel_http_request_duration_seconds';
type Label = 'method' | 'route' | 'status';

/** Returns the metric already in the registry (a second app on the same registry), else registers a new one. */
function reuse<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/**
 * Process metrics (prom-client defaults) and per-route HTTP request count and latency. The
 * route label is the route pattern (`/api/v1/posts/:postId`), never the raw URL, and unknown
 * URLs share one label, so a scanner cannot blow up the number of series.
 */
export function installHttpMetrics(app: FastifyInstance, registry: Registry): void {
  // Defaults register once per registry; realtime and main may share it.
  if (!registry.getSingleMetric('process_cpu_user_seconds_total')) collectDefaultMetrics({ register: registry });
  const requests = reuse(registry, REQUESTS, () =>
    new Counter<Label>({ name: REQUESTS, help: 'HTTP requests answered, by route pattern and status', labelNames: ['method', 'route', 'status'], registers: [registry] }),
  );
  const duration = reuse(registry, DURATION, () =>
    new Histogram<Label>({
      name: DURATION,
      help: 'Time to answer an HTTP request, by route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  );
  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.is404 ? '(unmatched)' : (request.routeOptions.url ?? '(unmatched)'),
      status: String(reply.statusCode),
    };
    requests.inc(labels);
    duration.observe(labels, reply.elapsedTime / 1000);
  });
}
