// The outbox relay: not a queue, but every worker process runs it. Once a second it publishes
// the events a crashed or cut-off publisher left in event_outbox (src/domain/outbox.ts); a
// pass that published anything is followed at once by another. Any number of processes may run it.
import type { Deps } from '../src/deps.js';
import { relayOutbox } from '../src/domain/outbox.js';
import type { RunningWorker } from './index.js';

const INTERVAL_MS = 1000;

export function start(deps: Deps): RunningWorker {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  const run = async () => {
    let more = true;
    while (more && !stopped) {
      try {
        more = (await relayOutbox(deps)) > 0;
      } catch (err) {
        deps.log.warn({ err: (err as Error).message }, 'outbox relay pass failed; retrying');
        more = false;
      }
    }
    if (!stopped) timer = setTimeout(() => void (pass = run()), INTERVAL_MS);
  };
  pass = run();
  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      await pass;
    },
  };
}
