// Housekeeping every worker process runs, like the outbox relay: once a minute it deletes
// uploads no message took within a day (src/domain/attachments/upload.ts), so abandoned
// uploads do not eat a workspace's quota. Any number of processes may run it (rows are
// claimed with SKIP LOCKED).
import type { Deps } from '../src/deps.js';
import { sweepUnsentUploads } from '../src/domain/attachments/upload.js';
import type { RunningWorker } from './index.js';

const INTERVAL_MS = 60_000;

export function start(deps: Deps): RunningWorker {
  let stopped = false;
  let pass: Promise<unknown> = Promise.resolve();
  const tick = () => {
    pass = sweepUnsentUploads(deps)
      .then((swept) => swept && deps.log.info({ swept }, 'deleted unsent uploads'))
      .catch((err) => deps.log.warn({ err: (err as Error).message }, 'upload sweep failed; will retry'));
  };
  const timer = setInterval(() => !stopped && tick(), INTERVAL_MS);
  return {
    async close() {
      stopped = true;
      clearInterval(timer);
      await pass;
    },
  };
}
