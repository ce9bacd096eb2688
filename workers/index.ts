// Starts the BullMQ workers named by WORKER_QUEUES. One file per queue, named after it, each
// exporting `start(deps)`; this registry is the only place that lists them. Every worker process
// also runs the outbox relay (outbox.ts) and the housekeeping sweeps (sweeper.ts), whatever queues it serves.
import type { Deps } from '../src/deps.js';
import type { QueueName } from '../src/infra/queues.js';

export interface RunningWorker {
  /** Stops taking jobs and waits for the ones in flight. */
  close(): Promise<void>;
}

type Start = (deps: Deps) => Promise<RunningWorker>;

const registry: Partial<Record<QueueName, () => Promise<Start>>> = {
  persist: async () => (await import('./persist.js')).start,
  receipts: async () => (await import('./receipts.js')).start,
  search: async () => (await import('./search.js')).start,
  notifications: async () => (await import('./notifications.js')).start,
  webhooks: async () => (await import('./webhooks.js')).start,
  unfurl: async () => (await import('./unfurl.js')).start,
};

export async function startWorkers(deps: Deps): Promise<RunningWorker> {
  const running: RunningWorker[] = [(await import('./outbox.js')).start(deps), (await import('./sweeper.js')).start(deps)];
  for (const name of deps.config.WORKER_QUEUES) {
    const load = registry[name];
    if (!load) continue;
    running.push(await (await load())(deps));
    deps.log.info({ queue: name }, 'worker started');
  }
  return {
    async close() {
      await Promise.all(running.map((w) => w.close()));
    },
  };
}
