import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/realtime/cursor.js';

describe('resume cursors', () => {
  it('one shard: the stream id itself, as before sharding', () => {
    expect(encodeCursor(1, { shards: new Map([[0, '1700000000000-3']]), changes: null })).toBe('1700000000000-3');
    expect(decodeCursor(1, '1700000000000-3')).toEqual({ shards: new Map([[0, '1700000000000-3']]), changes: null });
    expect(decodeCursor(1, 'garbage')).toBeNull();
  });

  it('several shards: the shard count, the changes position and a position per shard read, round-tripping', () => {
    const cursor = {
      shards: new Map([
        [5, '1700000000002-0'],
        [1, '1700000000001-7'],
      ]),
      changes: '1699999999999-0',
    };
    const id = encodeCursor(8, cursor);
    expect(id).toBe('8.1699999999999-0.1:1700000000001-7.5:1700000000002-0');
    expect(decodeCursor(8, id)).toEqual({ shards: new Map([...cursor.shards].sort()), changes: cursor.changes });
  });

  it('refuses ids of another shard count, plain stream ids, unknown shards, repeats and junk (the client resyncs)', () => {
    for (const id of ['4.0-0.1:1-0', '1700000000000-3', '8.0-0.8:1-0', '8.0-0.1:1-0.1:2-0', '8.x.1:1-0', '8.0-0.1:1', '', '8']) {
      expect(decodeCursor(8, id), id).toBeNull();
    }
    expect(decodeCursor(8, '8.0-0')).toEqual({ shards: new Map(), changes: '0-0' });
  });
});
