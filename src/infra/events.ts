// The event stream: every state change is XADDed to one Redis Stream, capped by length (and by
// age, trimmed by the fanout). The stream entry id is the event id clients resume from, so
// ids are increasing and replay is an XRANGE. See ARCHITECTURE.md, "The event path".
import type { Redis } from './redis.js';
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

/** What clients receive: the event plus its stream id. */
export interface EventEnvelope extends ChatEvent {
  id: string;
}

export interface EventStream {
  key: string;
  maxLen: number;
  /** How long entries are kept (EVENT_STREAM_MAX_AGE_SECONDS); membership logs live twice as long. */
  maxAgeSeconds: number;
}

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
 * Stream-side keys next to the stream, named after it (so on a cluster they share its hash slot): the outbox ids already XADDed (a sorted set by time), and
 * each user's membership log: a small stream of that user's membership changes whose entry ids
 * are the ids of the events that made them, so a resuming connection can tell what the user
 * belonged to at any event id still in the stream (src/realtime/replay.ts).
 */
export const publishedKey = (stream: EventStream) => `${stream.key}:published`;
export const membershipLogKey = (stream: EventStream, userId: string) => `${stream.key}:members:${userId}`;
/** Each chat's highest announced seq (message-persist.ts, lua/announceCreated-2.lua). */
export const announcedKey = (stream: EventStream) => `${stream.key}:announced`;
const MEMBERSHIP_LOG_MAXLEN = 1000;
/** An outbox id is remembered this long after its XADD (it is forgotten at once after its row is deleted). */
const PUBLISHED_TTL_MS = 24 * 3600 * 1000;

// Publishing is one script (src/infra/lua/publishEvents.lua): events in order, each at most once
// per outbox id, with their membership changes appended to the users' logs atomically. All keys
// derive from the stream's name, which carries the `{events}` hash tag on a cluster (redisKeys),
// so they share its slot (test/unit/redis-slots.test.ts checks it).

/** An outbox row's event: it reaches the stream once, however often it is published. */
export interface OutboxEntry {
  event: ChatEvent;
  outbox_id: string;
}

async function publish(redis: Redis, stream: EventStream, items: Array<{ event: ChatEvent; outbox_id?: string }>): Promise<Array<string | null>> {
  if (items.length === 0) return [];
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
  const ids = (await runScript(redis, 'publishEvents', keys, args)) as Array<string | null>;
  items.forEach(({ event }, i) => {
    if (ids[i]) metrics.eventsPublished.inc({ type: event.type });
  });
  return items.map((_, i) => ids[i] ?? null);
}

/** Appends events in one round trip; returns their ids in order. */
export async function publishEvents(redis: Redis, stream: EventStream, events: ChatEvent[]): Promise<string[]> {
  return (await publish(
    redis,
    stream,
    events.map((event) => ({ event })),
  )) as string[];
}

/** Appends outbox events in one round trip, skipping those already published; null for those. */
export function publishOutboxEntries(redis: Redis, stream: EventStream, entries: OutboxEntry[]): Promise<Array<string | null>> {
  return publish(redis, stream, entries);
}

/** Forgets outbox ids whose rows are gone (deleted after publishing), so the set stays small. */
export async function forgetPublished(redis: Redis, stream: EventStream, outboxIds: string[]): Promise<void> {
  if (outboxIds.length) await redis.zrem(publishedKey(stream), ...outboxIds);
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
