// The `receipts` queue: read marks, coalesced per (chat, user) and applied forward-only.
import type { Deps } from '../src/deps.js';
import { applyReceipts } from '../src/domain/receipts.js';
import type { ReceiptJob } from '../src/infra/queues.js';
import { createBatcher } from './batch.js';
import type { RunningWorker } from './index.js';
import { runQueueWorker } from './queue-worker.js';

export const QUEUE = 'receipts';
export type ReceiptsPayload = ReceiptJob;

export async function start(deps: Deps): Promise<RunningWorker> {
  const apply = createBatcher(
    async (jobs: ReceiptJob[]) => {
      await applyReceipts(deps, jobs);
      return jobs.map(() => undefined);
    },
    { maxSize: 500 },
  );
  return runQueueWorker(deps, QUEUE, (job) => apply(job.data));
}
