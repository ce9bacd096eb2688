// The "unfurl" queue: link previews for messages just stored or edited (src/domain/unfurl/attach.ts).
// Fetching is I/O-bound and bounded per host, so a modest concurrency is plenty.
import type { Deps } from '../src/deps.js';
import { unfurlMessage } from '../src/domain/unfurl/attach.js';
import type { RunningWorker } from './index.js';
import { runQueueWorker } from './queue-worker.js';

export async function start(deps: Deps): Promise<RunningWorker> {
  return runQueueWorker(deps, 'unfurl', (job) => unfurlMessage(deps, job.data.message_id), 8);
}
