// The producer side of the notification pipeline: the persist worker calls this after its
// transaction commits, with the messages it stored (or found stored by an earlier attempt).
// It picks the recipients and queues one `notify` job per (message, user); everything else is
// decided when that job runs (notify.ts), so a read, mute or delete meanwhile cancels it.
// See ARCHITECTURE.md "Notifications".
import type { ChatType } from '../access.js';
import type { PersistDeps } from '../message-persist.js';
import { effectiveLevel, type NotifyLevel } from '../notification-settings.js';
import { presenceOf } from '../presence.js';
import type { NotificationReason, NotifyJob } from '../../infra/queues.js';

export interface StoredMessage {
  id: string;
  chat_id: string;
  workspace_id: string;
  seq: number;
  sender_id: string;
}

export interface RecipientFacts {
  chatType: ChatType;
  level: NotifyLevel;
  muted: boolean;
  /** Whether a mention_recipients row names this user for this message. */
  mentioned: boolean;
}

/**
 * Why this member is told about a message, or null for not at all (the contract's rule):
 * never at effective level 'none'; always in a direct chat; when mentioned; or at level 'all'.
 */
export function notificationReason(facts: RecipientFacts): NotificationReason | null {
  const level = effectiveLevel(facts.level, facts.muted, facts.chatType);
  if (level === 'none') return null;
  if (facts.chatType === 'direct') return 'direct';
  if (facts.mentioned) return 'mention';
  if (level === 'all') return 'message';
  return null;
}

export const notifyJobId = (messageId: string, userId: string) => `n:${messageId}:${userId}`;

/** Call AFTER COMMIT; repeats are harmless (one job per user and message). Never throws. */
export async function enqueueNotifications(deps: PersistDeps, messages: StoredMessage[]): Promise<void> {
  if (messages.length === 0) return;
  try {
    const chatIds = [...new Set(messages.map((m) => m.chat_id))];
    const messageIds = messages.map((m) => m.id);
    const [members, mentions] = await Promise.all([
      // Only members who may be told: in a large channel at the default level that is the
      // mentioned few, not everyone (notificationReason below decides exactly).
      deps
        .db('chat_members as cm')
        .join('chats as c', 'c.id', 'cm.chat_id')
        .whereIn('cm.chat_id', chatIds)
        .where('cm.muted', false)
        .whereNot('cm.notify_level', 'none')
        .where((q) =>
          q
            .whereIn('c.type', ['direct', 'group'])
            .orWhere('cm.notify_level', 'all')
            .orWhereExists((sub) =>
              sub.select(deps.db.raw('1')).from('mention_recipients as mr').whereRaw('mr.user_id = cm.user_id').whereIn('mr.message_id', messageIds),
            ),
        )
        .select('cm.chat_id', 'cm.user_id', 'cm.notify_level', 'cm.muted', 'c.type'),
      deps.db('mention_recipients').whereIn('message_id', messageIds).select('message_id', 'user_id'),
    ]);
    const mentioned = new Set(mentions.map((r: { message_id: string; user_id: string | number }) => `${r.message_id}:${r.user_id}`));
    const byChat = new Map<string, Array<{ user_id: string; notify_level: NotifyLevel; muted: boolean; type: ChatType }>>();
    for (const row of members) {
      const list = byChat.get(String(row.chat_id)) ?? [];
      list.push({ ...row, user_id: String(row.user_id) });
      byChat.set(String(row.chat_id), list);
    }
    const jobs: NotifyJob[] = [];
    for (const message of messages) {
      for (const member of byChat.get(String(message.chat_id)) ?? []) {
        if (member.user_id === String(message.sender_id)) continue;
        const reason = notificationReason({
          chatType: member.type,
          level: member.notify_level,
          muted: member.muted,
          mentioned: mentioned.has(`${message.id}:${member.user_id}`),
        });
        if (!reason) continue;
        jobs.push({
          kind: 'notify',
          message_id: message.id,
          user_id: member.user_id,
          chat_id: String(message.chat_id),
          workspace_id: String(message.workspace_id),
          seq: Number(message.seq),
        });
      }
    }
    if (jobs.length === 0) return;
    const presence = await presenceOf(deps, [...new Set(jobs.map((j) => j.user_id))]);
    const delay = deps.config.NOTIFY_DELAY_SECONDS * 1000;
    await deps.queues.notifications.addBulk(
      jobs.map((data) => ({
        name: 'notify',
        data,
        // Someone online may well read it in the app; give them the chance before we interrupt.
        opts: { jobId: notifyJobId(data.message_id, data.user_id), delay: presence.get(data.user_id) === 'online' ? delay : 0 },
      })),
    );
  } catch (err) {
    // Notifications must never hold up or fail persisting; the message is stored and announced.
    deps.log.warn({ err: (err as Error).message, messages: messages.length }, 'could not queue notifications');
  }
}
