// A BullMQ Worker with the settings every Fechatter queue shares: its own blocking Redis
// connection, the deployment's key prefix, concurrency, and metrics for durations and failures.
import { Worker, type Job, type WorkerOptions } from 'bullmq';
import type { Deps } from '../src/deps.js';
import type { JobPayloads, QueueName } from '../src/infra/queues.js';
import { createRedis } from '../src/infra/redis.js';
import { metrics } from '../src/observability/metrics.js';
import type { RunningWorker } from './index.js';

export function runQueueWorker<N extends QueueName>(
  deps: Deps,
  name: N,
  process: (job: Job<JobPayloads[N]>) => Promise<unknown>,
  concurrency = deps.config.WORKER_CONCURRENCY,
  /** Per-queue lock/stall tuning (e.g. a short lock so a crashed worker's jobs come back sooner). */
  options: Pick<WorkerOptions, 'lockDuration' | 'stalledInterval'> = {},
): RunningWorker {
  const connection = createRedis(deps.config.REDIS_URL!, 'blocking', `fechatter:${name}-worker`);
  const worker = new Worker<JobPayloads[N]>(
    name,
    async (job) => {
      const end = metrics.jobDuration.startTimer({ queue: name });
      try {
        return await process(job);
      } finally {
        end();
      }
    },
    { connection, prefix: deps.keys.bull, concurrency, ...options },
  );
  worker.on('failed', (job, err) => {
    const final = !job || job.attemptsMade >= (job.opts.attempts ?? 1);
    metrics.jobsFailed.inc({ queue: name, final: String(final) });
    deps.log[final ? 'error' : 'warn']({ queue: name, job_id: job?.id, attempts: job?.attemptsMade, err: err.message }, final ? 'job failed for good' : 'job failed; will retry');
  });
  worker.on('error', (err) => deps.log.warn({ queue: name, err: err.message }, 'worker connection error'));
  return {
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
