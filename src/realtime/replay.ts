// Resume: replay each shard after a client's position there, or tell it to resync when a
// position is no longer replayable. Each page is read together with the stream's metadata in one
// MULTI, so "nothing after the cursor was trimmed" is checked atomically with the read.
// Trimming (MAXLEN on XADD, MINID by age) only removes the oldest entries, so once anything
// was trimmed (entries-added > length) a cursor is safe only at or after the first entry
// left. (Conservative: a cursor equal to the last trimmed id also resyncs.) XDEL, which we never
// use, is covered by `max-deleted-entry-id`.
//
// Before replaying, the connection's membership is rewound to the cursor with the user's
// membership log of each shard (src/infra/events.ts), so the replay holds no event of a chat or
// workspace from before the user joined it or after they left it. A log trimmed past the cursor
// resyncs too, and a resync puts back the membership as loaded (a rewound one would keep a chat
// the user has left since). Other users' user-scoped events are in the range too:
// Connection.process drops them, as live.
//
// With several shards a cursor holds a position only in the shards its connection read. A shard
// of a workspace the user joined since is replayed from before the join: the user's joins log
// (next to the changes stream) says where, counting from the changes position the cursor started at.
import type { Redis } from '../infra/redis.js';
import {
  compareEventIds,
  fieldMap,
  joinsLogKey,
  membershipLogKey,
  parseStreamEntry,
  type EventStream,
  type EventStreams,
  type MembershipChange,
} from '../infra/events.js';
import type { Connection } from './connection.js';
import { decodeCursor } from './cursor.js';
import { delivery, resyncRequired } from './delivery.js';
import type { Membership } from './membership.js';

const PAGE = 500;

interface StreamInfo {
  length: number;
  entriesAdded: number;
  firstId: string | null;
  lastGeneratedId: string;
  maxDeletedId: string;
}

function parseInfo(raw: unknown): StreamInfo {
  const info: Record<string, unknown> = {};
  if (Array.isArray(raw)) for (let i = 0; i + 1 < raw.length; i += 2) info[String(raw[i])] = raw[i + 1];
  const first = info['first-entry'];
  return {
    length: Number(info.length ?? 0),
    entriesAdded: Number(info['entries-added'] ?? info.length ?? 0),
    firstId: Array.isArray(first) ? String(first[0]) : null,
    lastGeneratedId: String(info['last-generated-id'] ?? '0-0'),
    maxDeletedId: String(info['max-deleted-entry-id'] ?? '0-0'),
  };
}

/**
 * Whether every entry after `cursor` is still in the stream. A cursor past the stream's last id
 * is from another stream's history, except for a membership log (`sparse`), which only holds
 * some of the event stream's ids.
 */
function replayable(cursor: string, info: StreamInfo, sparse = false): boolean {
  if (!sparse && compareEventIds(cursor, info.lastGeneratedId) > 0) return false;
  if (compareEventIds(cursor, info.maxDeletedId) < 0) return false;
  if (info.entriesAdded <= info.length) return true; // nothing trimmed yet
  return info.firstId !== null ? compareEventIds(cursor, info.firstId) >= 0 : cursor === info.lastGeneratedId;
}

function expiresAt(value: unknown): number {
  return typeof value === 'number' ? value : Date.parse(String(value));
}

/** A user's membership log holds at most ~1000 entries (src/infra/events.ts). */
const LOG_PAGE = 2000;

/**
 * The entries of a user's log (membership or joins) after `since`, each as its field map; null if
 * the log no longer reaches back to it. No log at all: no entry within twice the stream's age
 * window, so none after a replayable position.
 */
async function logSince(redis: Redis, key: string, since: string): Promise<Array<{ id: string; f: Record<string, string> }> | null> {
  const [[, entries], [infoErr, rawInfo]] = (await redis.multi().xrange(key, `(${since}`, '+', 'COUNT', LOG_PAGE).xinfo('STREAM', key).exec()) as [
    [Error | null, [string, string[]][]],
    [Error | null, unknown],
  ];
  if (infoErr) return [];
  if (!replayable(since, parseInfo(rawInfo), true) || entries.length >= LOG_PAGE) return null;
  return entries.map(([id, fields]) => ({ id, f: fieldMap(fields) }));
}

/** The user's membership changes after `cursor`, oldest first; null if the log no longer reaches back to it. */
async function membershipSince(redis: Redis, stream: EventStream, userId: string, cursor: string): Promise<MembershipChange[] | null> {
  const entries = await logSince(redis, membershipLogKey(stream, userId), cursor);
  return entries?.map(({ id, f }) => ({ id, user_id: userId, kind: f.k === 'leave' ? 'leave' : 'join', workspace_id: f.w, chat_id: f.c || null })) ?? null;
}

/** The shards' readers, as replay needs them (readers.ts). */
export interface ShardReaders {
  ensure(shard: number): Promise<unknown>;
  position(shard: number): string | undefined;
}

export interface ReplayDeps {
  redis: Redis;
  streams: EventStreams;
  readers: ShardReaders;
}

/**
 * Per shard, the earliest position to replay from for the workspaces the user joined after the
 * changes position `since` (several shards only); null if the joins log no longer reaches back.
 */
export async function joinsSince(deps: ReplayDeps, userId: string, since: string): Promise<Map<number, string> | null> {
  const entries = await logSince(deps.redis, joinsLogKey(deps.streams, userId), since);
  if (!entries) return null;
  const from = new Map<number, string>();
  for (const { f } of entries) {
    const k = Number(f.s);
    const known = from.get(k);
    if (known === undefined || compareEventIds(f.p, known) < 0) from.set(k, f.p);
  }
  return from;
}

/** Whether each stream of `plan` still holds everything after its position. */
async function allReplayable(deps: ReplayDeps, plan: Map<number, string>): Promise<boolean> {
  const infos = await Promise.all(
    [...plan].map(async ([k, from]) => {
      const raw = await deps.redis.xinfo('STREAM', deps.streams.shards[k].key).catch(() => []);
      return replayable(from, parseInfo(raw));
    }),
  );
  return infos.every(Boolean);
}

/**
 * Replays one shard after `from` into a connection whose membership is rewound to `from`.
 * False if the shard no longer holds everything after it (then nothing was sent).
 */
async function replayShard(deps: ReplayDeps, conn: Connection, shard: number, from: string): Promise<boolean> {
  const key = deps.streams.shards[shard].key;
  let cursor = from;
  conn.cursors.set(shard, from);
  for (;;) {
    const results = await deps.redis.multi().xrange(key, `(${cursor}`, '+', 'COUNT', PAGE).xinfo('STREAM', key).exec();
    if (conn.state === 'closed') return true;
    const [[, entries], [infoErr, rawInfo]] = results as [[Error | null, [string, string[]][]], [Error | null, unknown]];
    // No stream at all (never written, or Redis lost its data): nothing to replay from.
    if (!replayable(cursor, parseInfo(infoErr ? [] : rawInfo))) return false;
    const now = Date.now();
    for (const [id, fields] of entries ?? []) {
      const envelope = parseStreamEntry(id, fields);
      cursor = id;
      if (!envelope) continue;
      envelope.shard = shard;
      // Typing is ephemeral: a replayed "is typing" that has already expired is noise.
      if (envelope.type === 'typing' && !(expiresAt(envelope.data.expires_at) > now)) continue;
      conn.process(delivery(envelope), true);
      if ((conn.state as Connection['state']) === 'closed') return true;
    }
    await conn.drain();
    if (!entries || entries.length < PAGE) return true;
  }
}

/** Rewinds the shards' membership to their positions and replays them; false: resync. */
async function replayPlan(deps: ReplayDeps, conn: Connection, plan: Map<number, string>): Promise<boolean> {
  const logs = await Promise.all([...plan].map(([k, from]) => membershipSince(deps.redis, deps.streams.shards[k], conn.userId, from)));
  if (logs.some((log) => log === null)) return false;
  await Promise.all([...plan.keys()].map((k) => (conn.needs.add(k), deps.readers.ensure(k))));
  if (conn.state === 'closed' || !(await allReplayable(deps, plan))) return false;
  for (const log of logs) conn.rewindMembership(log!);
  // Every shard's position first: an event sent while one shard replays carries the others' too.
  for (const [k, from] of plan) conn.cursors.set(k, from);
  for (const [k, from] of plan) if (!(await replayShard(deps, conn, k, from))) return false;
  return true;
}

/** Sends `resync_required`: the client refetches, and goes on from where the readers are now. */
async function resync(deps: ReplayDeps, conn: Connection, snapshot: Membership): Promise<void> {
  conn.resetMembership(snapshot);
  conn.cursors.clear();
  await Promise.all([...conn.needs].map((k) => deps.readers.ensure(k)));
  const positions = new Map<number, string>();
  for (const k of conn.needs) positions.set(k, deps.readers.position(k) ?? '0-0');
  if (conn.state === 'starting') conn.resync(positions, resyncRequired);
}

/**
 * Step 3 of start-up with a last event id: sends the events after it that the connection may
 * see, in order per shard, or a `resync_required` frame (then continues from the readers'
 * positions). Precondition: the connection is registered with the hub and `snapshot`, its
 * membership, is loaded and set (connection.ts, steps 1-2).
 */
export async function resume(deps: ReplayDeps, conn: Connection, lastEventId: string, snapshot: Membership): Promise<void> {
  const cursor = decodeCursor(deps.streams.shards.length, lastEventId);
  let plan: Map<number, string> | null = null;
  if (cursor) {
    plan = new Map(cursor.shards);
    const missing = [...conn.needs].filter((k) => !plan!.has(k));
    if (missing.length) {
      // A workspace of a shard the cursor does not cover: joined since (replay from before the join), or the cursor is not this user's.
      const joins = cursor.changes === null ? null : await joinsSince(deps, conn.userId, cursor.changes);
      for (const k of missing) {
        const from = joins?.get(k);
        if (from === undefined) plan = null;
        else plan?.set(k, from);
      }
    }
  }
  if (conn.state !== 'starting') return;
  if (!plan || !(await replayPlan(deps, conn, plan))) await resync(deps, conn, snapshot);
}

/**
 * A fresh connection whose shard reader started after it registered (the user joined a
 * workspace there in between): replays that shard from before the join, so nothing is missed.
 */
export async function catchUpFresh(deps: ReplayDeps, conn: Connection, shards: number[]): Promise<void> {
  if (shards.length === 0 || conn.changesFrom === null) return;
  const joins = await joinsSince(deps, conn.userId, conn.changesFrom);
  const plan = new Map(shards.flatMap((k) => (joins?.get(k) !== undefined ? [[k, joins.get(k)!] as const] : [])));
  if (plan.size && conn.state === 'starting' && !(await replayPlan(deps, conn, plan))) conn.end('error');
}

/**
 * A live connection's user joined a workspace of a shard it does not read: read it from before
 * the join. Its live events wait meanwhile (Connection.beginCatchUp). If that position is gone
 * the connection is ended, and the client's resume sorts it out (or resyncs).
 */
export async function catchUpLive(deps: ReplayDeps, conn: Connection, shard: number, from: string): Promise<void> {
  conn.beginCatchUp(shard);
  try {
    if (!(await replayPlan(deps, conn, new Map([[shard, from]])))) return conn.end('error');
    conn.endCatchUp(shard, (k) => deps.readers.position(k));
  } catch {
    conn.end('error');
  }
}
