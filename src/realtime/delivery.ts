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
  json?: string;
  sse?: string;
}

export function delivery(envelope: Envelope): Delivery {
  return { envelope };
}

/** The WebSocket frame: the envelope as JSON, with `id` first for humans reading logs; `user_id` only when set (JSON drops undefined). */
export function jsonOf(d: Delivery): string {
  if (d.json === undefined) {
    const { id, type, workspace_id, chat_id, user_id, data } = d.envelope;
    d.json = JSON.stringify({ id, type, workspace_id, chat_id, user_id, data });
  }
  return d.json;
}

/** The SSE block: id and event lines, then the whole envelope as data (JSON has no raw newlines). */
export function sseOf(d: Delivery): string {
  if (d.sse === undefined) d.sse = `id: ${d.envelope.id}\nevent: ${d.envelope.type}\ndata: ${jsonOf(d)}\n\n`;
  return d.sse;
}

export function resyncRequired(id: string): Delivery {
  return delivery({ id, type: RESYNC_REQUIRED, workspace_id: null, chat_id: null, data: {} });
}
