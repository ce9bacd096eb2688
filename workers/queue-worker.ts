// A BullMQ Worker with the settings every Fechatter queue shares: its own blocking Redis
// connection, the deployment's key prefix, concurrency, and metrics for durations and failures.
import { Worker, type Job, type WorkerOptions } from 'bullmq';
import type { Deps } from '../src/deps.js';
import type { JobPayloads, QueueName } from '../src/infra/queues.js';
import { createRedis } from '../src/infra/redis.js';
import { isDependencyDown } from '../src/infra/failures.js';
import { metrics } from '../src/observability/metrics.js';
import type { RunningWorker } from './index.js';

export function runQueueWorker<N extends QueueName>(
  deps: Deps,
  name: N,
  /** `token` is the job's lock token (for job.moveToDelayed and friends). */
  process: (job: Job<JobPayloads[N]>, token?: string) => Promise<unknown>,
  concurrency = deps.config.WORKER_CONCURRENCY,
  /** Per-queue lock/stall tuning (e.g. a short lock so a crashed worker's jobs come back sooner). */
  options: Pick<WorkerOptions, 'lockDuration' | 'stalledInterval'> = {},
): RunningWorker {
  const connection = createRedis(deps.config.REDIS_URL!, 'blocking', `fechatter:${name}-worker`);
  const worker = new Worker<JobPayloads[N]>(
    name,
    async (job, token) => {
      const end = metrics.jobDuration.startTimer({ queue: name });
      try {
        return await process(job, token);
      } finally {
        end();
      }
    },
    { connection, prefix: deps.keys.bull, concurrency, ...options },
  );
  worker.on('failed', (job, err) => {
    const final = !job || job.attemptsMade >= (job.opts.attempts ?? 1);
    metrics.jobsFailed.inc({ queue: name, final: String(final) });
    deps.log[final ? 'error' : 'warn'](
      { queue: name, job_id: job?.id, attempts: job?.attemptsMade, err: err.message },
      final ? 'job failed for good' : 'job failed; will retry',
    );
  });
  worker.on('error', (err) => deps.log.warn({ queue: name, err: err.message }, 'worker connection error'));
  return {
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}

/**
 * Runs `fn`; while it fails because Postgres or Redis is unreachable, waits (backing off up to
 * 2 s) and runs it again instead of failing the job. An outage must neither burn a job's
 * attempts nor let later jobs overtake it. Stops waiting once `signal` aborts (shutdown): the
 * job is then left to BullMQ, which hands it out again.
 */
export async function retryWhileUnavailable<T>(fn: () => Promise<T>, signal: AbortSignal, deps: Pick<Deps, 'log' | 'redis'>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const down = isDependencyDown(err, deps.redis);
      if (!down || signal.aborted) throw err;
      if (attempt === 0) deps.log.warn({ dependency: down, err: (err as Error).message }, 'dependency unavailable; holding the batch until it returns');
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}
