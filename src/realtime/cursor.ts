// The resume cursor a client holds (the `id` of each event it receives): with one shard, the
// stream id itself, as before sharding; with N shards, a position per shard the connection reads
// plus the changes-stream position it started from (replay.ts uses it to find the workspaces a
// user joined on other shards since). Opaque to clients: `N.changes.k:id.k:id...`.
import { isEventId } from '../infra/events.js';

export interface Cursor {
  /** Shard -> the last id considered there. */
  shards: Map<number, string>;
  /** Changes-stream position of the connection's start (null with one shard). */
  changes: string | null;
}

export function encodeCursor(shardCount: number, cursor: Cursor): string {
  if (shardCount === 1) return cursor.shards.get(0) ?? '0-0';
  const parts = [...cursor.shards].sort(([a], [b]) => a - b).map(([k, id]) => `${k}:${id}`);
  return [shardCount, cursor.changes ?? '0-0', ...parts].join('.');
}

/** A cursor of this deployment's shard count, or null (a bad or foreign id: the client resyncs). */
export function decodeCursor(shardCount: number, value: string): Cursor | null {
  if (shardCount === 1) return isEventId(value) ? { shards: new Map([[0, value]]), changes: null } : null;
  const [count, changes, ...parts] = value.split('.');
  if (Number(count) !== shardCount || changes === undefined || !isEventId(changes) || parts.length > shardCount) return null;
  const shards = new Map<number, string>();
  for (const part of parts) {
    const m = /^(\d{1,3}):(.+)$/.exec(part);
    if (!m || Number(m[1]) >= shardCount || !isEventId(m[2]) || shards.has(Number(m[1]))) return null;
    shards.set(Number(m[1]), m[2]);
  }
  return { shards, changes };
}
