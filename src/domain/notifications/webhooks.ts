// Webhook delivery: one signed JSON POST per (webhook, notification). The receiver checks
// Fechatter-Signature (HMAC-SHA256 over "<t>.<raw body>" with the webhook's secret, t in unix
// seconds, re-signed on every attempt) and de-duplicates on Fechatter-Delivery, which stays the
// same across retries. Non-2xx or no answer in 10 s throws, so BullMQ retries with backoff.
import { createHmac } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import type { WebhookJob } from '../../infra/queues.js';
import { MESSAGE_COLUMNS, toMessage, type Message, type MessageRow } from '../messages.js';
import type { NotificationDeps } from './notify.js';
import { OutboundRefusedError, outboundRequest, resolveOutbound } from './outbound.js';

export const WEBHOOK_TIMEOUT_MS = 10_000;

export interface WebhookBody {
  type: 'notification';
  id: string;
  reason: string;
  created_at: string;
  user: { id: string; username: string; display_name: string };
  workspace_id: string;
  chat: { id: string; type: string; name: string | null };
  message: Message;
}

export function signWebhook(secret: string, timestamp: number, rawBody: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

export type WebhookOutcome = { status: 'delivered'; http_status: number } | { status: 'skipped' };

export async function deliverWebhook(deps: NotificationDeps, job: WebhookJob, now = Date.now()): Promise<WebhookOutcome> {
  const hook = await deps.db('webhooks').where({ id: job.webhook_id }).first('id', 'user_id', 'workspace_id', 'url', 'secret');
  if (!hook) return { status: 'skipped' };
  const n = await deps
    .db('notifications as n')
    .join('users as u', 'u.id', 'n.user_id')
    .join('chats as c', 'c.id', 'n.chat_id')
    .where('n.id', job.notification_id)
    .first('n.id', 'n.reason', 'n.created_at', 'n.user_id', 'n.workspace_id', 'n.chat_id', 'n.message_id', 'u.username', 'u.display_name', 'c.type', 'c.name');
  if (!n) return { status: 'skipped' };
  // A webhook sees its owner's notifications, or its workspace's.
  const owned = hook.user_id !== null ? String(hook.user_id) === String(n.user_id) : String(hook.workspace_id) === String(n.workspace_id);
  if (!owned) return { status: 'skipped' };
  const message: MessageRow | undefined = await deps.db('messages').where({ id: n.message_id }).first(MESSAGE_COLUMNS);
  if (!message) return { status: 'skipped' };
  const body: WebhookBody = {
    type: 'notification',
    id: String(n.id),
    reason: n.reason,
    created_at: new Date(n.created_at).toISOString(),
    user: { id: String(n.user_id), username: n.username, display_name: n.display_name },
    workspace_id: String(n.workspace_id),
    chat: { id: String(n.chat_id), type: n.type, name: n.name },
    message: toMessage(message),
  };
  const raw = JSON.stringify(body);
  let target;
  try {
    target = await resolveOutbound(hook.url, { allowPrivate: deps.config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES });
  } catch (err) {
    // The URL was checked when the webhook was created; it now points somewhere we refuse.
    if (err instanceof OutboundRefusedError) throw new UnrecoverableError(`webhook target refused: ${err.message}`);
    throw err;
  }
  const res = await outboundRequest(target, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(raw)),
      'User-Agent': 'Fechatter-Webhooks',
      'Fechatter-Event': 'notification',
      'Fechatter-Delivery': `${n.id}:${hook.id}`,
      'Fechatter-Signature': signWebhook(hook.secret, Math.floor(now / 1000), raw),
    },
    body: raw,
    timeoutMs: WEBHOOK_TIMEOUT_MS,
  });
  if (res.status < 200 || res.status >= 300) throw new Error(`webhook answered ${res.status}`);
  return { status: 'delivered', http_status: res.status };
}
