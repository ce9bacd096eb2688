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
});
