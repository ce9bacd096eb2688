// The event streams: every state change is XADDed to a Redis Stream, capped by length (and by
// age, trimmed by the fanout). With EVENT_STREAM_SHARDS > 1 there is one stream per shard and
// an event goes to its workspace's shard, so shards spread over a cluster and each fanout reads
// only the shards its users need. A stream entry id is a position clients resume from (one per
// shard: src/realtime/cursor.ts), ids increase per shard, and replay is an XRANGE. Access changes
// (membership, roles, archiving) are also copied to the changes stream, read by every API process
// (to drop cached access) and every fanout (to start reading a shard a user has just joined).
// See ARCHITECTURE.md, "The event path".
import type { Redis, RedisKeys } from './redis.js';
import { metrics } from '../observability/metrics.js';
import { runScript } from './scripts.js';
export const EVENT_TYPES = [
  'message.created',
  'message.updated',
  'message.deleted',
  'receipt.updated',
  'typing',
  'chat.created',
  'chat.updated',
  'chat.member_joined',
  'chat.member_left',
  'workspace.updated',
  'workspace.member_joined',
  'workspace.member_updated',
  'workspace.member_left',
  'presence.updated',
  'user.updated',
  'notifications.updated',
  'reaction.added',
  'reaction.removed',
  'message.pinned',
  'message.unpinned',
  'message.saved',
  'message.unsaved',
  'message.link_previews',
  'thread.updated',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Not a stream entry: what the fanout sends first when a resume id is past the window. */
export const RESYNC_REQUIRED = 'resync_required';

/** An event as built by the domain function that changed the state. */
export interface ChatEvent {
  type: EventType;
  workspace_id: string;
  chat_id: string | null;
  /**
   * Set for a user-scoped event: only this user's connections receive it (and only where they
   * may see its chat or workspace). Absent for everything else.
   */
  user_id?: string;
  data: Record<string, unknown>;
}

/** An event read back: the event plus its stream id (and, from a reader, its shard). */
export interface EventEnvelope extends ChatEvent {
  id: string;
  /** The shard it was read from (set by stream readers; 0 with one shard). */
  shard?: number;
}

/** One stream: a shard of the event stream, or the changes stream. */
export interface EventStream {
  key: string;
  /** EVENT_STREAM_MAXLEN, per stream. */
  maxLen: number;
  /** How long entries are kept (EVENT_STREAM_MAX_AGE_SECONDS); membership logs live twice as long. */
  maxAgeSeconds: number;
}

export interface EventStreams {
  /** Index = shard number. One shard is the stream of before sharding, under its old name. */
  shards: EventStream[];
  changes: EventStream;
}

export function eventStreams(keys: Pick<RedisKeys, 'events' | 'eventShard'>, options: { shards: number; maxLen: number; maxAgeSeconds: number }): EventStreams {
  const stream = (key: string): EventStream => ({ key, maxLen: options.maxLen, maxAgeSeconds: options.maxAgeSeconds });
  return {
    shards: options.shards === 1 ? [stream(keys.events)] : Array.from({ length: options.shards }, (_, k) => stream(keys.eventShard(k))),
    changes: stream(`${keys.events}:changes`),
  };
}

/** A workspace's shard of `count`: FNV-1a of its id, so every process agrees without asking anyone. */
export function workspaceShard(count: number, workspaceId: string): number {
  if (count === 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < workspaceId.length; i++) h = Math.imul(h ^ workspaceId.charCodeAt(i), 0x01000193);
  return (h >>> 0) % count;
}

export const shardIndex = (streams: EventStreams, workspaceId: string): number => workspaceShard(streams.shards.length, workspaceId);

export const shardOf = (streams: EventStreams, workspaceId: string): EventStream => streams.shards[shardIndex(streams, workspaceId)];

/** A change of one user's membership, as the membership log (below) records it. */
export interface MembershipChange {
  /** The id of the stream event that made the change. */
  id: string;
  user_id: string;
  kind: 'join' | 'leave';
  workspace_id: string;
  /** null: the workspace itself. */
  chat_id: string | null;
}

/** The membership changes an event makes, one per user it adds to or removes from a chat or workspace. */
export function membershipChanges(event: ChatEvent): Array<Omit<MembershipChange, 'id'>> {
  const { type, workspace_id, chat_id, data } = event;
  const change = (user: unknown, kind: 'join' | 'leave', chat: string | null) => ({ user_id: String(user), kind, workspace_id, chat_id: chat });
  switch (type) {
    case 'chat.created':
      return Array.isArray(data.member_ids) ? data.member_ids.map((u) => change(u, 'join', chat_id)) : [];
    case 'chat.member_joined':
    case 'chat.member_left':
      return [change(data.user_id, type === 'chat.member_joined' ? 'join' : 'leave', chat_id)];
    case 'workspace.member_joined':
    case 'workspace.member_left':
      return [change(data.user_id, type === 'workspace.member_joined' ? 'join' : 'leave', null)];
    default:
      return [];
  }
}

/**
 * Stream-side keys next to each shard, named after it (so on a cluster they share its hash slot):
 * the outbox ids already XADDed (a sorted set by time), and each user's membership log: a small
 * stream of that user's membership changes in the shard whose entry ids are the ids of the
 * events that made them, so a resuming connection can tell what the user belonged to at any
 * event id still in the stream (src/realtime/replay.ts).
 */
export const publishedKey = (stream: EventStream) => `${stream.key}:published`;
export const membershipLogKey = (stream: EventStream, userId: string) => `${stream.key}:members:${userId}`;
/** Each chat's highest announced seq (lua/announceCreated-2.lua), next to the chat's shard. */
export const announcedKey = (stream: EventStream) => `${stream.key}:announced`;
/**
 * Next to the changes stream: each user's workspace joins, entry ids = their changes-stream ids,
 * with the shard and a position in it before the join event (src/realtime/replay.ts).
 */
export const joinsLogKey = (streams: EventStreams, userId: string) => `${streams.changes.key}:joins:${userId}`;
const MEMBERSHIP_LOG_MAXLEN = 1000;
/** An outbox id is remembered this long after its XADD (it is forgotten at once after its row is deleted). */
const PUBLISHED_TTL_MS = 24 * 3600 * 1000;

/** Changes of who may see what: the API's access cache and the fanout's shard choice follow them. */
export const ACCESS_CHANGE_TYPES: ReadonlySet<EventType> = new Set<EventType>([
  'chat.created',
  'chat.updated',
  'chat.member_joined',
  'chat.member_left',
  'workspace.member_joined',
  'workspace.member_updated',
  'workspace.member_left',
]);

/** A changes-stream entry: the access change, its shard, and a position of that shard before its event. */
export interface AccessChange {
  id: string;
  event: ChatEvent;
  shard: number;
  /** The shard's last id when the change was copied here, before the event itself was XADDed there. */
  from: string;
}

/** A stream entry's flat [field, value, ...] list as a map. */
export function fieldMap(fields: string[]): Record<string, string> {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  return f;
}

export function parseChange(id: string, fields: string[]): AccessChange | null {
  const f = fieldMap(fields);
  try {
    return { id, event: JSON.parse(f.e) as ChatEvent, shard: Number(f.s), from: f.p };
  } catch {
    return null;
  }
}

/**
 * Copies access changes to the changes stream (src/infra/lua/publishChanges.lua), before their
 * events reach their shards: a reader of the changes stream never learns of a change after a
 * client could have seen its event. A second copy (an outbox row published again) is harmless.
 */
async function publishChanges(redis: Redis, streams: EventStreams, events: ChatEvent[]): Promise<void> {
  const shards = [...new Set(events.map((e) => shardIndex(streams, e.workspace_id)))];
  // With one shard every fanout reads it from start-up: no position needed.
  const positions = new Map(
    await Promise.all(
      shards.map(
        async (k) =>
          [k, streams.shards.length === 1 ? '0-0' : ((await redis.xrevrange(streams.shards[k].key, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0')] as const,
      ),
    ),
  );
  const { changes } = streams;
  const keys = [changes.key];
  const args: Array<string | number> = [changes.maxLen, MEMBERSHIP_LOG_MAXLEN, changes.maxAgeSeconds * 2];
  for (const event of events) {
    const k = shardIndex(streams, event.workspace_id);
    const joined = event.type === 'workspace.member_joined' ? [String(event.data.user_id)] : [];
    args.push(JSON.stringify(event), k, positions.get(k)!, joined.length);
    keys.push(...joined.map((u) => joinsLogKey(streams, u)));
  }
  await runScript(redis, 'publishChanges', keys, args);
}

// Publishing to a shard is one script (src/infra/lua/publishEvents.lua): events in order, each at
// most once per outbox id, with their membership changes appended to the users' logs atomically.
// All keys derive from the shard's name, which carries its own hash tag on a cluster (redisKeys),
// so they share its slot (test/unit/redis-slots.test.ts checks it).

/** An outbox row's event: it reaches the stream once, however often it is published. */
export interface OutboxEntry {
  event: ChatEvent;
  outbox_id: string;
}

type Item = { event: ChatEvent; outbox_id?: string };

async function publishToShard(redis: Redis, stream: EventStream, items: Item[]): Promise<Array<string | null>> {
  const keys = [stream.key, publishedKey(stream)];
  const args: Array<string | number> = [stream.maxLen, Date.now(), PUBLISHED_TTL_MS, MEMBERSHIP_LOG_MAXLEN, stream.maxAgeSeconds * 2];
  for (const { event, outbox_id } of items) {
    const changes = membershipChanges(event);
    args.push(outbox_id ?? '', JSON.stringify(event), changes.length);
    for (const c of changes) {
      keys.push(membershipLogKey(stream, c.user_id));
      args.push(c.kind, c.chat_id ?? '', c.workspace_id);
    }
  }
  return (await runScript(redis, 'publishEvents', keys, args)) as Array<string | null>;
}

/** Items by shard, each group in the order given (shards are independent: one script each, in parallel). */
function byShard<T>(streams: EventStreams, items: T[], workspaceOf: (item: T) => string): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  items.forEach((item, i) => {
    const k = shardIndex(streams, workspaceOf(item));
    const group = groups.get(k);
    if (group) group.push(i);
    else groups.set(k, [i]);
  });
  return groups;
}

async function publish(redis: Redis, streams: EventStreams, items: Item[]): Promise<Array<string | null>> {
  if (items.length === 0) return [];
  const access = items.filter((i) => ACCESS_CHANGE_TYPES.has(i.event.type)).map((i) => i.event);
  if (access.length) await publishChanges(redis, streams, access);
  const ids: Array<string | null> = items.map(() => null);
  await Promise.all(
    [...byShard(streams, items, (i) => i.event.workspace_id)].map(async ([k, group]) => {
      const got = await publishToShard(
        redis,
        streams.shards[k],
        group.map((i) => items[i]),
      );
      group.forEach((i, j) => (ids[i] = got[j] ?? null));
    }),
  );
  items.forEach(({ event }, i) => {
    if (ids[i]) metrics.eventsPublished.inc({ type: event.type });
  });
  return ids;
}

/** Appends events (one round trip per shard they touch); returns their ids in order. */
export async function publishEvents(redis: Redis, streams: EventStreams, events: ChatEvent[]): Promise<string[]> {
  return (await publish(
    redis,
    streams,
    events.map((event) => ({ event })),
  )) as string[];
}

/** Appends outbox events, skipping those already published; null for those. */
export function publishOutboxEntries(redis: Redis, streams: EventStreams, entries: OutboxEntry[]): Promise<Array<string | null>> {
  return publish(redis, streams, entries);
}

/** Forgets outbox ids whose rows are gone (deleted after publishing), so the sets stay small. */
export async function forgetPublished(redis: Redis, streams: EventStreams, entries: OutboxEntry[]): Promise<void> {
  await Promise.all(
    [...byShard(streams, entries, (e) => e.event.workspace_id)].map(([k, group]) =>
      redis.zrem(publishedKey(streams.shards[k]), ...group.map((i) => entries[i].outbox_id)),
    ),
  );
}

/**
 * message.created for each event not announced yet, moving the chats' marks, atomically per
 * shard (src/infra/lua/announceCreated-2.lua). Events of one chat come in seq order. Returns how many were added.
 */
export async function announceCreated(redis: Redis, streams: EventStreams, events: ChatEvent[]): Promise<number> {
  const added = await Promise.all(
    [...byShard(streams, events, (e) => e.workspace_id)].map(([k, group]) => {
      const stream = streams.shards[k];
      const args = group.flatMap((i) => [events[i].chat_id!, String(events[i].data.seq), JSON.stringify(events[i])]);
      return runScript(redis, 'announceCreated', [stream.key, announcedKey(stream)], [stream.maxLen, ...args]) as Promise<number>;
    }),
  );
  const total = added.reduce((a, b) => a + b, 0);
  metrics.eventsPublished.inc({ type: 'message.created' }, total);
  return total;
}

export function parseStreamEntry(id: string, fields: string[]): EventEnvelope | null {
  const index = fields.indexOf('e');
  if (index < 0) return null;
  try {
    return { id, ...(JSON.parse(fields[index + 1]) as ChatEvent) };
  } catch {
    return null;
  }
}

/** Stream ids compare as (ms, seq) pairs. */
export function compareEventIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am !== bm ? am - bm : (as ?? 0) - (bs ?? 0);
}

export function isEventId(value: string): boolean {
  return /^\d{1,15}-\d{1,10}$/.test(value);
}
