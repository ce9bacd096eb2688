// The "search" queue: keeps Meilisearch documents in step with Postgres after messages are
// written (jobs come from enqueueSearchIndex, called after the persisting transaction commits).
// Jobs are group-committed like persist jobs: the ids of the jobs that arrive while a batch is
// being applied go into the next batch, so Meilisearch sees a few large tasks instead of many
// tiny ones. Without MEILISEARCH_URL there is nothing to do (Postgres indexes at insert).
import type { Job } from 'bullmq';
import type { Deps } from '../src/deps.js';
import { meiliIndex } from '../src/domain/search/index.js';
import { syncDocuments } from '../src/domain/search/meilisearch.js';
import type { SearchJob } from '../src/infra/queues.js';
import { createBatcher } from './batch.js';
import type { RunningWorker } from './index.js';
import { runQueueWorker } from './queue-worker.js';

export const QUEUE = 'search' as const;
export type SearchPayload = SearchJob;

/** Jobs per batch (each job carries up to 500 ids, usually those of one persist transaction). */
const MAX_BATCH_JOBS = 100;

/**
 * The processor. Each op only names a message: the batch re-reads the rows and upserts the live
 * ones and deletes the rest, so retries and out-of-order jobs converge on Postgres' state.
 */
export function searchProcessor(deps: Deps): (job: Pick<Job<SearchJob>, 'data'>) => Promise<{ upserted: number; deleted: number }> {
  const sync = createBatcher(
    async (jobs: SearchJob[]) => {
      const index = meiliIndex(deps);
      if (!index) return jobs.map(() => ({ upserted: 0, deleted: 0 }));
      const result = await syncDocuments(
        deps.db,
        await index,
        jobs.flatMap((j) => j.ops.map((o) => o.message_id)),
      );
      return jobs.map(() => result);
    },
    { maxSize: MAX_BATCH_JOBS },
  );
  return ({ data }) => sync(data);
}

export async function start(deps: Deps): Promise<RunningWorker> {
  if (!deps.config.MEILISEARCH_URL) return { close: async () => {} };
  // Apply index settings at start; if Meilisearch is down, jobs retry with backoff until it is back.
  await meiliIndex(deps)?.catch((err) => deps.log.warn({ err: (err as Error).message }, 'meilisearch not ready; search jobs will retry'));
  return runQueueWorker(deps, QUEUE, searchProcessor(deps), 16);
}
