// The `notify` job: one recipient of one message, run after the delay enqueue.ts chose. It
// re-checks everything (the message may be deleted, read, the chat muted, the user gone or in
// do-not-disturb), then records the notification once per (user, message) and fans it out:
// a push job per subscription, a webhook job per webhook, and the email digest if offline.
import type { Deps } from '../../deps.js';
import type { ChatType } from '../access.js';
import type { NotifyLevel } from '../notification-settings.js';
import { presenceOf } from '../presence.js';
import type { NotifyJob } from '../../infra/queues.js';
import { notificationReason } from './enqueue.js';
import { vapidKeys } from './vapid.js';

export type NotificationDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config' | 'log' | 'queues'>;

export type NotifyOutcome =
  | { status: 'skipped'; why: 'gone' | 'deleted' | 'read' | 'not_wanted' | 'duplicate' }
  /** Do-not-disturb: run the job again at `until` (ms since epoch). */
  | { status: 'deferred'; until: number }
  | { status: 'notified'; notification_id: string; push: number; webhooks: number; email: boolean };

interface Facts {
  seq: string | number;
  deleted_at: Date | null;
  type: ChatType;
  last_read_seq: string | number | null;
  notify_level: NotifyLevel | null;
  muted: boolean | null;
  dnd_until: Date | null;
  mentioned: boolean;
}

/**
 * Runs one notify job. `retry` says this job already ran once (BullMQ's attemptsStarted > 1):
 * a retry finding its notification row finishes the fan-out a crash interrupted (the jobIds make
 * repeats no-ops), while a fresh job finding one is a duplicate and does nothing.
 */
export async function runNotify(deps: NotificationDeps, job: NotifyJob, retry: boolean, now = Date.now()): Promise<NotifyOutcome> {
  const facts: Facts | undefined = await deps
    .db('messages as m')
    .join('chats as c', 'c.id', 'm.chat_id')
    .join('users as u', 'u.id', deps.db.raw('?', [job.user_id]))
    .leftJoin('chat_members as cm', (j) => j.on('cm.chat_id', 'm.chat_id').andOn('cm.user_id', 'u.id'))
    .where('m.id', job.message_id)
    .first(
      'm.seq',
      'm.deleted_at',
      'c.type',
      'cm.last_read_seq',
      'cm.notify_level',
      'cm.muted',
      'u.dnd_until',
      deps.db.raw('exists (select 1 from mention_recipients mr where mr.message_id = m.id and mr.user_id = u.id) as mentioned'),
    );
  if (!facts || facts.notify_level === null) return { status: 'skipped', why: 'gone' };
  if (facts.deleted_at) return { status: 'skipped', why: 'deleted' };
  if (Number(facts.last_read_seq) >= Number(facts.seq)) return { status: 'skipped', why: 'read' };
  // Settings (and, after an edit, mentions) may have changed since the job was queued.
  const reason = notificationReason({ chatType: facts.type, level: facts.notify_level, muted: Boolean(facts.muted), mentioned: Boolean(facts.mentioned) });
  if (!reason) return { status: 'skipped', why: 'not_wanted' };
  if (facts.dnd_until && new Date(facts.dnd_until).getTime() > now) return { status: 'deferred', until: new Date(facts.dnd_until).getTime() };

  const online = (await presenceOf(deps, [job.user_id])).get(job.user_id) === 'online';
  // Email is for people who are away; without SMTP the row is settled at once.
  const emailState = online ? null : deps.config.SMTP_URL ? 'pending' : 'skipped';
  const [inserted] = await deps
    .db('notifications')
    .insert({ user_id: job.user_id, message_id: job.message_id, chat_id: job.chat_id, workspace_id: job.workspace_id, reason, email_state: emailState })
    .onConflict(['user_id', 'message_id'])
    .ignore()
    .returning(['id', 'email_state']);
  let row = inserted as { id: string | number; email_state: string | null } | undefined;
  if (!row) {
    if (!retry) return { status: 'skipped', why: 'duplicate' };
    row = await deps.db('notifications').where({ user_id: job.user_id, message_id: job.message_id }).first('id', 'email_state');
    if (!row) return { status: 'skipped', why: 'gone' };
  }
  return { status: 'notified', notification_id: String(row.id), ...(await fanOut(deps, String(row.id), job, row.email_state === 'pending')) };
}

async function fanOut(deps: NotificationDeps, notificationId: string, job: NotifyJob, email: boolean) {
  const [subscriptions, webhooks] = await Promise.all([
    vapidKeys(deps.config) ? deps.db('push_subscriptions').where({ user_id: job.user_id }).pluck('id') : Promise.resolve([]),
    deps.db('webhooks').where({ user_id: job.user_id }).orWhere({ workspace_id: job.workspace_id }).pluck('id'),
  ]);
  if (subscriptions.length > 0) {
    await deps.queues.notifications.addBulk(
      subscriptions.map((sid: string | number) => ({
        name: 'push',
        data: { kind: 'push' as const, notification_id: notificationId, subscription_id: String(sid) },
        opts: { jobId: `p:${notificationId}:${sid}` },
      })),
    );
  }
  if (webhooks.length > 0) {
    await deps.queues.webhooks.addBulk(
      webhooks.map((wid: string | number) => ({
        name: 'deliver',
        data: { webhook_id: String(wid), notification_id: notificationId },
        opts: { jobId: `w:${wid}:${notificationId}` },
      })),
    );
  }
  if (email) await scheduleDigest(deps, job.user_id);
  return { push: subscriptions.length, webhooks: webhooks.length, email };
}

/** The "a digest is scheduled" flag of a user (outlives a lost job by an hour at most). */
export const digestFlagKey = (deps: Pick<Deps, 'keys'>, userId: string) => deps.keys.digestFlag(userId);

/**
 * At most one digest per user is waiting: the first pending notification of a burst schedules
 * it, the rest find the flag set and ride along (the digest reads every pending row).
 * Call after the pending row is committed, so a digest that clears the flag first still sees it.
 */
export async function scheduleDigest(deps: NotificationDeps, userId: string): Promise<boolean> {
  const key = digestFlagKey(deps, userId);
  const claimed = await deps.redis.set(key, '1', 'EX', deps.config.EMAIL_DIGEST_SECONDS + 3600, 'NX');
  if (claimed !== 'OK') return false;
  try {
    await deps.queues.notifications.add(
      'digest',
      { kind: 'digest', user_id: userId },
      { jobId: `d:${userId}:${Date.now()}`, delay: deps.config.EMAIL_DIGEST_SECONDS * 1000 },
    );
  } catch (err) {
    await deps.redis.del(key).catch(() => {});
    throw err;
  }
  return true;
}
