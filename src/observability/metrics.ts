// Prometheus metrics for every role, in one process-wide registry (served at /metrics).
import client from 'prom-client';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

const make = {
  counter: <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new client.Counter<L>({ name, help, labelNames, registers: [registry] }),
  gauge: <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new client.Gauge<L>({ name, help, labelNames, registers: [registry] }),
  histogram: <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
    new client.Histogram<L>({ name, help, labelNames, buckets, registers: [registry] }),
};

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const metrics = {
  httpDuration: make.histogram('fechatter_http_request_duration_seconds', 'HTTP request duration', ['method', 'route', 'status'], latencyBuckets),
  jobDuration: make.histogram('fechatter_job_duration_seconds', 'Job processing duration', ['queue'], latencyBuckets),
  jobsFailed: make.counter('fechatter_jobs_failed_total', 'Job attempts that failed', ['queue', 'final']),
  queueJobs: make.gauge('fechatter_queue_jobs', 'Jobs per queue and state', ['queue', 'state']),
  messagesPersisted: make.counter('fechatter_messages_persisted_total', 'Messages written to Postgres'),
  persistBatchSize: make.histogram('fechatter_persist_batch_size', 'Jobs per persisting transaction', [], [1, 2, 5, 10, 25, 50, 100, 250, 500]),
  eventsPublished: make.counter('fechatter_events_published_total', 'Events appended to the event stream', ['type']),
  eventsDelivered: make.counter('fechatter_events_delivered_total', 'Events written to client connections', ['transport']),
  deliveryLatency: make.histogram('fechatter_delivery_latency_seconds', 'From message accepted to written to a socket', ['transport'], latencyBuckets),
  connections: make.gauge('fechatter_connections', 'Open real-time connections', ['transport']),
  rateLimited: make.counter('fechatter_rate_limited_total', 'Requests rejected by a rate limit', ['limit']),
  breakerState: make.gauge('fechatter_circuit_breaker_state', 'Circuit breaker state (0 closed, 1 half-open, 2 open)', ['breaker']),
};
