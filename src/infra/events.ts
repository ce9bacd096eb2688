// The event stream: every state change is XADDed to one Redis Stream, capped by length (and by
// age, trimmed by the fanout). The stream entry id is the event id clients resume from, so
// ids are increasing and replay is an XRANGE. See ARCHITECTURE.md, "The event path".
import type { Redis } from 'ioredis';
import { metrics } from '../observability/metrics.js';

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
  'presence.updated',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Not a stream entry: what the fanout sends first when a resume id is past the window. */
export const RESYNC_REQUIRED = 'resync_required';

/** An event as built by the domain function that changed the state. */
export interface ChatEvent {
  type: EventType;
  workspace_id: string;
  chat_id: string | null;
  data: Record<string, unknown>;
}

/** What clients receive: the event plus its stream id. */
export interface EventEnvelope extends ChatEvent {
  id: string;
}

export interface EventStream {
  key: string;
  maxLen: number;
}

/** Appends events in one round trip; returns their ids in order. */
export async function publishEvents(redis: Redis, stream: EventStream, events: ChatEvent[]): Promise<string[]> {
  if (events.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const event of events) {
    pipeline.xadd(stream.key, 'MAXLEN', '~', stream.maxLen, '*', 'e', JSON.stringify(event));
  }
  const results = await pipeline.exec();
  const ids = (results ?? []).map(([err, id]) => {
    if (err) throw err;
    return id as string;
  });
  for (const event of events) metrics.eventsPublished.inc({ type: event.type });
  return ids;
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
