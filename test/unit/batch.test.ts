import { describe, expect, it } from 'vitest';
import { createBatcher } from '../../workers/batch.js';

describe('group-commit batcher', () => {
  it('writes a lone item at once and groups items that arrive while busy', async () => {
    const batches: number[][] = [];
    const add = createBatcher(
      async (items: number[]) => {
        batches.push(items);
        await new Promise((r) => setTimeout(r, 20));
        return items.map((i) => i * 2);
      },
      { maxSize: 3 },
    );
    const first = add(1);
    await new Promise((r) => setTimeout(r, 5));
    const rest = [2, 3, 4, 5, 6].map(add);
    expect(await Promise.all([first, ...rest])).toEqual([2, 4, 6, 8, 10, 12]);
    expect(batches).toEqual([[1], [2, 3, 4], [5, 6]]);
  });

  it('retries a failed batch one by one so only the poison item fails', async () => {
    const add = createBatcher(
      async (items: string[]) => {
        if (items.includes('poison')) throw new Error('bad item');
        return items.map((s) => s.toUpperCase());
      },
      { maxSize: 10 },
    );
    const results = await Promise.allSettled(['a', 'poison', 'b'].map(add));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseFulfilledResult<string>).value).toBe('A');
    expect((results[1] as PromiseRejectedResult).reason.message).toBe('bad item');
  });

  it("runs a batch's second stage while the next batch is written, and resolves items only after it", async () => {
    const log: string[] = [];
    let releaseFirst!: () => void;
    const firstAfter = new Promise<void>((r) => (releaseFirst = r));
    const add = createBatcher(
      async (items: number[]) => {
        log.push(`write ${items.join(',')}`);
        return items;
      },
      {
        maxSize: 2,
        after: async (items) => {
          log.push(`after ${items.join(',')}`);
          if (items[0] === 1) await firstAfter;
        },
      },
    );
    let firstDone = false;
    const first = add(1).then((r) => ((firstDone = true), r));
    await new Promise((r) => setTimeout(r, 5));
    // The first batch's second stage is still running: the next batch is written meanwhile.
    expect(await add(2)).toBe(2);
    expect(firstDone).toBe(false);
    releaseFirst();
    expect(await first).toBe(1);
    expect(log).toEqual(['write 1', 'after 1', 'write 2', 'after 2']);
  });

  it('rejects the items of a batch whose second stage fails', async () => {
    const add = createBatcher(async (items: number[]) => items, {
      maxSize: 5,
      after: async () => {
        throw new Error('follow-up failed');
      },
    });
    await expect(add(1)).rejects.toThrow('follow-up failed');
  });
});
