// Prometheus metrics for every role, in one process-wide registry (served at /metrics).
import client from 'prom-client';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

const make = {
  counter: <L extends string>(name: string, help: string, labelNames: L[] = []) => new client.Counter<L>({ name, help, labelNames, registers: [registry] }),
  gauge: <L extends string>(name: string, help: string, labelNames: L[] = [], collect?: (this: client.Gauge<L>) => void | Promise<void>) =>
    new client.Gauge<L>({ name, help, labelNames, registers: [registry], collect }),
  histogram: <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
    new client.Histogram<L>({ name, help, labelNames, buckets, registers: [registry] }),
};

/** What the scrape-time gauges read: the process's queues, Postgres pool and Redis connection. */
export interface Observed {
  queues: Record<string, { getJobCounts(...states: string[]): Promise<Record<string, number>> }>;
  pool: () => { used: number; free: number; pending: number };
  redisReady: () => boolean;
}
let observed: Observed | undefined;

/** Points the scrape-time gauges at this process's dependencies (the last call wins). */
export function observe(target: Observed): void {
  observed = target;
}

const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const metrics = {
  httpDuration: make.histogram('fechatter_http_request_duration_seconds', 'HTTP request duration', ['method', 'route', 'status'], latencyBuckets),
  jobDuration: make.histogram('fechatter_job_duration_seconds', 'Job processing duration', ['queue'], latencyBuckets),
  jobsFailed: make.counter('fechatter_jobs_failed_total', 'Job attempts that failed', ['queue', 'final']),
  queueJobs: make.gauge('fechatter_queue_jobs', 'Jobs per queue and state', ['queue', 'state'], async function () {
    if (!observed) return;
    await Promise.all(
      Object.entries(observed.queues).map(async ([queue, q]) => {
        const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed').catch(() => undefined);
        for (const [state, n] of Object.entries(counts ?? {})) this.set({ queue, state }, n);
      }),
    );
  }),
  postgresPool: make.gauge('fechatter_postgres_pool_connections', 'Postgres pool connections by state', ['state'], function () {
    if (!observed) return;
    const pool = observed.pool();
    this.set({ state: 'used' }, pool.used);
    this.set({ state: 'free' }, pool.free);
    this.set({ state: 'pending' }, pool.pending);
  }),
  redisUp: make.gauge('fechatter_redis_up', 'Whether the Redis command connection is ready', [], function () {
    if (observed) this.set(observed.redisReady() ? 1 : 0);
  }),
  messagesPersisted: make.counter('fechatter_messages_persisted_total', 'Messages written to Postgres'),
  persistBatchSize: make.histogram('fechatter_persist_batch_size', 'Jobs per persisting transaction', [], [1, 2, 5, 10, 25, 50, 100, 250, 500]),
  eventsPublished: make.counter('fechatter_events_published_total', 'Events appended to the event stream', ['type']),
  outboxRelayed: make.counter('fechatter_outbox_relayed_total', 'Outbox events published by the relay (left behind by a crash or an outage)'),
  eventsDelivered: make.counter('fechatter_events_delivered_total', 'Events written to client connections', ['transport']),
  deliveryLatency: make.histogram('fechatter_delivery_latency_seconds', 'From message accepted to written to a socket', ['transport'], latencyBuckets),
  connections: make.gauge('fechatter_connections', 'Open real-time connections', ['transport']),
  rateLimited: make.counter('fechatter_rate_limited_total', 'Requests rejected by a rate limit', ['limit']),
  breakerState: make.gauge('fechatter_circuit_breaker_state', 'Circuit breaker state (0 closed, 1 half-open, 2 open)', ['breaker']),
};
