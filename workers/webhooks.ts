// The `webhooks` queue: one signed POST of one notification to one webhook. Failures retry
// (8 attempts, exponential from 1 s: webhookJobOptions); what still fails stays in the failed
// set, the dead-letter list shown in Bull Board.
import type { Deps } from '../src/deps.js';
import { deliverWebhook } from '../src/domain/notifications/webhooks.js';
import type { WebhookJob } from '../src/infra/queues.js';
import type { RunningWorker } from './index.js';
import { runQueueWorker } from './queue-worker.js';

export const QUEUE = 'webhooks';
export type WebhooksPayload = WebhookJob;

export async function start(deps: Deps): Promise<RunningWorker> {
  // Each job mostly waits on someone else's server: a modest concurrency per process.
  return runQueueWorker(deps, QUEUE, (job) => deliverWebhook(deps, job.data), Math.min(deps.config.WORKER_CONCURRENCY, 32));
}
