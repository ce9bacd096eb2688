// Resume: replay the stream after a client's last event id, or tell it to resync when that id
// is no longer replayable. Each page is read together with the stream's metadata in one
// MULTI, so "nothing after the cursor was trimmed" is checked atomically with the read.
// Trimming (MAXLEN on XADD, MINID by age) only removes the oldest entries, so once anything
// was trimmed (entries-added > length) a cursor is safe only at or after the first entry
// left. (Conservative: a cursor equal to the last trimmed id also resyncs.) XDEL, which we never
// use, is covered by `max-deleted-entry-id`.
//
// Before replaying, the connection's membership is rewound to the cursor with the user's
// membership log (src/infra/events.ts), so the replay holds no event of a chat or workspace from
// before the user joined it or after they left it. A log trimmed past the cursor resyncs too.
// Other users' user-scoped events are in the range too: Connection.process drops them, as live.
import type { Redis } from '../infra/redis.js';
import { compareEventIds, isEventId, membershipLogKey, parseStreamEntry, type EventStream, type MembershipChange } from '../infra/events.js';
import type { Connection } from './connection.js';
import { delivery, resyncRequired } from './delivery.js';

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

/** The user's membership changes after `cursor`, oldest first; null if the log no longer reaches back to it. */
async function membershipSince(redis: Redis, stream: EventStream, userId: string, cursor: string): Promise<MembershipChange[] | null> {
  const key = membershipLogKey(stream, userId);
  const [[, entries], [infoErr, rawInfo]] = (await redis.multi().xrange(key, `(${cursor}`, '+', 'COUNT', LOG_PAGE).xinfo('STREAM', key).exec()) as [
    [Error | null, [string, string[]][]],
    [Error | null, unknown],
  ];
  // No log: no change within twice the stream's age window, so none after a replayable cursor.
  if (infoErr) return [];
  if (!replayable(cursor, parseInfo(rawInfo), true) || entries.length >= LOG_PAGE) return null;
  return entries.map(([id, fields]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
    return { id, user_id: userId, kind: f.k === 'leave' ? 'leave' : 'join', workspace_id: f.w, chat_id: f.c || null };
  });
}

/**
 * Sends the events after `lastEventId` that the connection may see, in order, or a
 * `resync_required` frame (then continues from the stream's end). Precondition: the connection
 * is registered with the hub and its membership is loaded (connection.ts, steps 1-2).
 */
export async function replay(redis: Redis, stream: EventStream, conn: Connection, lastEventId: string): Promise<void> {
  const streamKey = stream.key;
  let cursor = isEventId(lastEventId) ? lastEventId : null;
  if (cursor !== null) {
    const changes = await membershipSince(redis, stream, conn.userId, cursor);
    if (conn.state !== 'starting') return;
    // Not rewindable: resync below, which keeps the current membership.
    if (changes === null) cursor = null;
    else conn.rewindMembership(changes);
  }
  let resynced = false;
  for (;;) {
    const results = await redis
      .multi()
      .xrange(streamKey, `(${cursor ?? '0-0'}`, '+', 'COUNT', PAGE)
      .xinfo('STREAM', streamKey)
      .exec();
    if (conn.state !== 'starting') return;
    const [[, entries], [infoErr, rawInfo]] = results as [[Error | null, [string, string[]][]], [Error | null, unknown]];
    // No stream at all (never written, or Redis lost its data): nothing to replay from.
    const info = parseInfo(infoErr ? [] : rawInfo);
    if (cursor === null || !replayable(cursor, info)) {
      if (resynced) return; // cannot happen twice in a row unless the stream is being wiped; give up replaying
      resynced = true;
      cursor = info.lastGeneratedId;
      conn.sendOutOfBand(resyncRequired(cursor));
      continue;
    }
    const now = Date.now();
    for (const [id, fields] of entries ?? []) {
      const envelope = parseStreamEntry(id, fields);
      cursor = id;
      if (!envelope) continue;
      // Typing is ephemeral: a replayed "is typing" that has already expired is noise.
      if (envelope.type === 'typing' && !(expiresAt(envelope.data.expires_at) > now)) continue;
      conn.process(delivery(envelope), true);
      if (conn.state !== 'starting') return;
    }
    await conn.drain();
    if (!entries || entries.length < PAGE) return;
  }
}
