// One event on its way out: the envelope plus its wire forms, serialised at most once per
// process however many connections receive it (the hot path of a busy chat).
import { RESYNC_REQUIRED, type EventEnvelope } from '../infra/events.js';

/** What both transports send: a stream event, or the synthetic `resync_required`. */
export type Envelope = Omit<EventEnvelope, 'type' | 'workspace_id'> & {
  type: EventEnvelope['type'] | typeof RESYNC_REQUIRED;
  workspace_id: string | null;
};

export interface Delivery {
  envelope: Envelope;
  /** The JSON after its `id` member, shared by every connection (their ids may differ: cursor.ts). */
  tail?: string;
  json?: string;
  sse?: string;
}

export function delivery(envelope: Envelope): Delivery {
  return { envelope };
}

/**
 * The WebSocket frame: the envelope as JSON, with `id` (the connection's cursor, which is the
 * stream id itself with one shard) first for humans reading logs; `user_id` only when set (JSON
 * drops undefined). Serialised once per event for every connection whose id is the stream id.
 */
export function jsonOf(d: Delivery, id = d.envelope.id): string {
  if (d.tail === undefined) {
    const { type, workspace_id, chat_id, user_id, data } = d.envelope;
    d.tail = JSON.stringify({ type, workspace_id, chat_id, user_id, data }).slice(1);
  }
  if (id !== d.envelope.id) return `{"id":${JSON.stringify(id)},${d.tail}`;
  return (d.json ??= `{"id":${JSON.stringify(id)},${d.tail}`);
}

/** The SSE block: id and event lines, then the whole envelope as data (JSON has no raw newlines). */
export function sseOf(d: Delivery, id = d.envelope.id): string {
  if (id !== d.envelope.id) return `id: ${id}\nevent: ${d.envelope.type}\ndata: ${jsonOf(d, id)}\n\n`;
  return (d.sse ??= `id: ${id}\nevent: ${d.envelope.type}\ndata: ${jsonOf(d)}\n\n`);
}

export function resyncRequired(id: string): Delivery {
  return delivery({ id, type: RESYNC_REQUIRED, workspace_id: null, chat_id: null, data: {} });
}
