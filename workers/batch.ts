// Group commit for BullMQ processors: jobs that arrive while a batch is being written are
// collected and written together in the next one. Idle, a job is written at once (no timer
// delay); busy, batches grow up to `maxSize`. If a batch fails, its items are retried one by
// one, so a poison job fails alone and never takes the others down with it.
//
// A batch may have a second stage (`after`: what follows a write, outside its locks) that runs
// while the next batch is being written; its items resolve once both stages are done, so a job
// completes only when all of its work is.
export interface BatchOptions<T, R> {
  maxSize: number;
  /** The second stage; when it throws, the batch's items reject (their jobs retry). */
  after?: (items: T[], results: R[]) => Promise<void>;
}

export type BatchHandler<T, R> = (items: T[]) => Promise<R[]>;

export function createBatcher<T, R>(handle: BatchHandler<T, R>, options: BatchOptions<T, R>): (item: T) => Promise<R> {
  type Entry = { item: T; resolve: (r: R) => void; reject: (e: unknown) => void };
  const pending: Entry[] = [];
  let flushing = false;

  /** Resolves once the batch is written; its second stage goes on by itself. */
  async function settle(entries: Entry[]): Promise<void> {
    const items = entries.map((e) => e.item);
    let results: R[];
    try {
      results = await handle(items);
    } catch (err) {
      if (entries.length === 1) return entries[0].reject(err);
      for (const entry of entries) await settle([entry]);
      return;
    }
    (options.after ? options.after(items, results) : Promise.resolve()).then(
      () => entries.forEach((e, i) => e.resolve(results[i])),
      (err: unknown) => entries.forEach((e) => e.reject(err)),
    );
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
