// Group commit for BullMQ processors: jobs that arrive while a batch is being written are
// collected and written together in the next one. Idle, a job is written at once (no timer
// delay); busy, batches grow up to `maxSize`. If a batch fails, its items are retried one by
// one, so a poison job fails alone and never takes the others down with it.
export interface BatchOptions {
  maxSize: number;
}

export type BatchHandler<T, R> = (items: T[]) => Promise<R[]>;

export function createBatcher<T, R>(handle: BatchHandler<T, R>, options: BatchOptions): (item: T) => Promise<R> {
  type Entry = { item: T; resolve: (r: R) => void; reject: (e: unknown) => void };
  const pending: Entry[] = [];
  let flushing = false;

  async function settle(entries: Entry[]) {
    try {
      const results = await handle(entries.map((e) => e.item));
      entries.forEach((e, i) => e.resolve(results[i]));
    } catch (err) {
      if (entries.length === 1) return entries[0].reject(err);
      for (const entry of entries) await settle([entry]);
    }
  }

  async function flush() {
    flushing = true;
    while (pending.length) await settle(pending.splice(0, options.maxSize));
    flushing = false;
  }

  return (item) =>
    new Promise<R>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      // setImmediate lets the jobs BullMQ hands over in the same tick join this batch.
      if (!flushing) {
        flushing = true;
        setImmediate(() => void flush());
      }
    });
}
