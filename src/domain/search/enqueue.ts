// Real-time Meilisearch indexing, the producer side: the persist worker calls this after its
// transaction commits; workers/search.ts applies the jobs. Postgres needs none of it (the
// generated tsvector column indexes each row as it is written).
import type { Deps } from '../../deps.js';

export interface SearchIndexOp {
  op: 'upsert' | 'delete';
  message_id: string;
}

const JOB_CHUNK = 500;

/**
 * Queues Meilisearch index updates for messages just created, edited or deleted. Call AFTER the
 * transaction commits (the worker re-reads the rows, so calling it again on a retry is harmless).
 * A no-op without MEILISEARCH_URL.
 */
export async function enqueueSearchIndex(deps: Pick<Deps, 'config' | 'queues'>, ops: SearchIndexOp[]): Promise<void> {
  if (!deps.config.MEILISEARCH_URL || ops.length === 0) return;
  const jobs = [];
  for (let i = 0; i < ops.length; i += JOB_CHUNK) jobs.push({ name: 'sync', data: { ops: ops.slice(i, i + JOB_CHUNK) } });
  await deps.queues.search.addBulk(jobs);
}
