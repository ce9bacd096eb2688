// The `notifications` queue: `notify` (one recipient of one message: re-check, record, fan out),
// `push` (one Web Push message) and `digest` (one user's email digest). See
// src/domain/notifications/ and ARCHITECTURE.md "Notifications".
import { DelayedError } from 'bullmq';
import type { Deps } from '../src/deps.js';
import { sendDigest } from '../src/domain/notifications/email.js';
import { runNotify } from '../src/domain/notifications/notify.js';
import { deliverPush } from '../src/domain/notifications/push.js';
import type { NotificationJob } from '../src/infra/queues.js';
import type { RunningWorker } from './index.js';
import { runQueueWorker } from './queue-worker.js';

export const QUEUE = 'notifications';
export type NotificationsPayload = NotificationJob;

export async function start(deps: Deps): Promise<RunningWorker> {
  return runQueueWorker(deps, QUEUE, async (job, token) => {
    const data = job.data;
    switch (data.kind) {
      case 'notify': {
        const outcome = await runNotify(deps, data, job.attemptsStarted > 1);
        if (outcome.status === 'deferred') {
          // Do-not-disturb: the same job comes back when it ends (and re-checks everything).
          await job.moveToDelayed(outcome.until, token);
          throw new DelayedError();
        }
        return outcome;
      }
      case 'push':
        return deliverPush(deps, data);
      case 'digest':
        return sendDigest(deps, data.user_id);
    }
  });
}
