// Starts the BullMQ workers named by WORKER_QUEUES. One file per queue, named after it.
import type { Deps } from '../src/deps.js';

export interface RunningWorkers {
  close(): Promise<void>;
}

export async function startWorkers(_deps: Deps): Promise<RunningWorkers> {
  return { close: async () => {} };
}
