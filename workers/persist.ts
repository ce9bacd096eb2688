// The "persist" queue: stores accepted messages and applies edits/deletes, via the domain
// functions of src/domain/message-persist.ts. Create jobs go through the group-commit batcher
// (workers/batch.ts): the jobs BullMQ hands over while a batch is being written are written
// together in the next one, up to PERSIST_BATCH_SIZE per transaction; a failed batch is retried
// job by job, so a poison message fails alone and never blocks the jobs behind it. A job whose
// sender may no longer write there completes as `rejected` (its result says why), not failed.
import type { Job } from 'bullmq';
import type { Deps } from '../src/deps.js';
import { applyMessageChange, followStored, storeMessages, type ChangeStatus, type PersistDeps, type PersistOutcome } from '../src/domain/message-persist.js';
import type { CreateMessageJob, PersistJob } from '../src/infra/queues.js';
import { metrics } from '../src/observability/metrics.js';
import { createBatcher } from './batch.js';
import type { RunningWorker } from './index.js';
import { retryWhileUnavailable, runQueueWorker } from './queue-worker.js';

export const QUEUE = 'persist' as const;
export type PersistPayload = PersistJob;

/**
 * Persist jobs take milliseconds, so a short lock is safe, and it brings the jobs of a crashed
 * worker back within ~15 s instead of BullMQ's default 30 s lock + 30 s stall check.
 */
const LOCK_DURATION_MS = 10_000;
const STALLED_INTERVAL_MS = 5_000;

export type PersistResult = PersistOutcome | { status: ChangeStatus } | undefined;

/** The processor: creates are batched, edits/deletes applied one at a time (they are rare). */
export function persistProcessor(
  deps: PersistDeps,
  maxBatch: number,
  stopping = new AbortController().signal,
): (job: Pick<Job<PersistJob>, 'data'>) => Promise<PersistResult> {
  const create = createBatcher(
    async (jobs: CreateMessageJob[]) => {
      metrics.persistBatchSize.observe(jobs.length);
      const outcomes = await retryWhileUnavailable(() => storeMessages(deps, jobs), stopping, deps);
      const stored = [...outcomes.values()].filter((o) => o.status === 'stored').length;
      if (stored) metrics.messagesPersisted.inc(stored);
      return jobs.map((job) => outcomes.get(job.id));
    },
    {
      maxSize: maxBatch,
      // Indexing, previews and notifications overlap the next batch's write; the jobs complete after them.
      after: (jobs, results) => followStored(deps, jobs, new Map(results.filter((o) => o !== undefined).map((o) => [o.id, o]))),
    },
  );
  const change = (data: Exclude<PersistJob, CreateMessageJob>) => retryWhileUnavailable(() => applyMessageChange(deps, data), stopping, deps);
  return async ({ data }) => (data.kind === 'create' ? create(data) : { status: await change(data) });
}

/**
 * Jobs in flight: the batcher can only group jobs BullMQ has handed over, so while one batch is
 * being written and the one before it is in its second stage, the next fills up only if three
 * batches can be in flight.
 */
export const persistConcurrency = (config: Pick<Deps['config'], 'WORKER_CONCURRENCY' | 'PERSIST_BATCH_SIZE'>) =>
  Math.max(config.WORKER_CONCURRENCY, 3 * config.PERSIST_BATCH_SIZE);

export async function start(deps: Deps): Promise<RunningWorker> {
  const stopping = new AbortController();
  const worker = runQueueWorker(deps, QUEUE, persistProcessor(deps, deps.config.PERSIST_BATCH_SIZE, stopping.signal), persistConcurrency(deps.config), {
    lockDuration: LOCK_DURATION_MS,
    stalledInterval: STALLED_INTERVAL_MS,
  });
  return {
    async close() {
      stopping.abort();
      await worker.close();
    },
  };
}
