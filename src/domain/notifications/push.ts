// Web Push delivery: one encrypted (aes128gcm), VAPID-signed POST per subscription. web-push
// builds the request; we send it through the outbound guard (a push endpoint is a URL the
// client gave us). The push service answering 404/410 means the browser dropped the
// subscription: we delete it.
import { UnrecoverableError } from 'bullmq';
import webpush from 'web-push';
import type { PushJob } from '../../infra/queues.js';
import type { NotificationDeps } from './notify.js';
import { OutboundRefusedError, outboundRequest, resolveOutbound } from './outbound.js';
import { vapidKeys } from './vapid.js';

export interface PushPayload {
  title: string;
  body: string;
  chat_id: string;
  workspace_id: string;
  message_id: string;
  url: string;
}

const PUSH_TTL_SECONDS = 24 * 3600;
const BODY_MAX_CHARS = 180;

export const chatUrl = (publicUrl: string, workspaceId: string, chatId: string) => `${publicUrl.replace(/\/+$/, '')}/#/w/${workspaceId}/c/${chatId}`;

export function notificationTitle(sender: string, chat: { type: string; name: string | null }): string {
  return chat.type === 'public' || chat.type === 'private' ? `${sender} in #${chat.name ?? 'chat'}` : sender;
}

export const snippet = (content: string, max = BODY_MAX_CHARS) => {
  const chars = [...content.replace(/\s+/g, ' ').trim()];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : chars.join('');
};

export type PushOutcome = 'sent' | 'gone' | 'skipped';

export async function deliverPush(deps: NotificationDeps, job: PushJob): Promise<PushOutcome> {
  const vapid = vapidKeys(deps.config);
  if (!vapid) return 'skipped';
  const subscription = await deps.db('push_subscriptions').where({ id: job.subscription_id }).first('id', 'user_id', 'endpoint', 'p256dh', 'auth');
  if (!subscription) return 'skipped';
  const row = await deps
    .db('notifications as n')
    .join('messages as m', 'm.id', 'n.message_id')
    .join('chats as c', 'c.id', 'n.chat_id')
    .join('users as s', 's.id', 'm.sender_id')
    .where('n.id', job.notification_id)
    .first('n.user_id', 'n.chat_id', 'n.workspace_id', 'n.message_id', 'm.content', 'm.deleted_at', 'c.type', 'c.name', 's.display_name');
  // The subscription may have been re-owned by another user since (same browser, new login).
  if (!row || row.deleted_at || String(row.user_id) !== String(subscription.user_id)) return 'skipped';
  const payload: PushPayload = {
    title: notificationTitle(row.display_name, row),
    body: snippet(row.content),
    chat_id: String(row.chat_id),
    workspace_id: String(row.workspace_id),
    message_id: row.message_id,
    url: chatUrl(deps.config.PUBLIC_URL, String(row.workspace_id), String(row.chat_id)),
  };
  const details = webpush.generateRequestDetails(
    { endpoint: subscription.endpoint, keys: { p256dh: subscription.p256dh, auth: subscription.auth } },
    JSON.stringify(payload),
    { vapidDetails: { subject: vapid.subject, publicKey: vapid.publicKey, privateKey: vapid.privateKey }, TTL: PUSH_TTL_SECONDS, contentEncoding: 'aes128gcm' },
  );
  let target;
  try {
    target = await resolveOutbound(subscription.endpoint, { allowPrivate: deps.config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES });
  } catch (err) {
    if (err instanceof OutboundRefusedError) throw new UnrecoverableError(`push endpoint refused: ${err.message}`);
    throw err;
  }
  const headers = Object.fromEntries(Object.entries(details.headers).map(([k, v]) => [k, String(v)]));
  const res = await outboundRequest(target, { method: 'POST', headers, body: details.body ?? undefined, timeoutMs: 10_000 });
  if (res.status >= 200 && res.status < 300) {
    await deps.db('push_subscriptions').where({ id: subscription.id }).update({ last_success_at: deps.db.fn.now() });
    return 'sent';
  }
  if (res.status === 404 || res.status === 410) {
    await deps.db('push_subscriptions').where({ id: subscription.id }).delete();
    return 'gone';
  }
  // Rate limits and outages pass; any other refusal (bad keys, too large) will not.
  if (res.status === 429 || res.status >= 500) throw new Error(`push service answered ${res.status}`);
  throw new UnrecoverableError(`push service refused the message: ${res.status} ${res.body.slice(0, 200)}`);
}
