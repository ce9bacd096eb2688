// Per-chat notification preferences of a member (chat_members.notify_level, muted): what the
// notification pipeline (src/domain/notifications/) honours and the chat list shows.
// `default` follows the chat type: every message of a direct or group chat (people talking to
// you), only mentions in public and private channels (people talking to a room).
import type { Deps } from '../deps.js';
import { accessChat, type ChatType } from './access.js';
import { NotFoundError } from '../errors.js';
import { publishOutbox, recordEvents } from './outbox.js';

export const NOTIFY_LEVELS = ['default', 'all', 'mentions', 'none'] as const;
export type NotifyLevel = (typeof NOTIFY_LEVELS)[number];
export type EffectiveLevel = Exclude<NotifyLevel, 'default'>;

export function effectiveLevel(level: NotifyLevel, muted: boolean, chatType: ChatType): EffectiveLevel {
  if (muted) return 'none';
  if (level !== 'default') return level;
  return chatType === 'direct' || chatType === 'group' ? 'all' : 'mentions';
}

export interface NotificationSettings {
  chat_id: string;
  level: NotifyLevel;
  muted: boolean;
  effective_level: EffectiveLevel;
}

type SettingsDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config' | 'stream' | 'log'>;

const toSettings = (chatId: string, chatType: ChatType, row: { notify_level: NotifyLevel; muted: boolean }): NotificationSettings => ({
  chat_id: chatId,
  level: row.notify_level,
  muted: row.muted,
  effective_level: effectiveLevel(row.notify_level, row.muted, chatType),
});

/** Members only: a reader of a public chat who has not joined it has no settings there (404). */
export async function getNotificationSettings(deps: SettingsDeps, userId: string, chatId: string): Promise<NotificationSettings> {
  const { chat } = await accessChat(deps, userId, chatId, 'member');
  const row = await deps.db('chat_members').where({ chat_id: chatId, user_id: userId }).first('notify_level', 'muted');
  if (!row) throw new NotFoundError('chat');
  return toSettings(chatId, chat.type, row);
}

/** Changes my settings of the chat; `notifications.updated` goes to my own connections only. */
export async function updateNotificationSettings(
  deps: SettingsDeps,
  userId: string,
  chatId: string,
  update: { level?: NotifyLevel; muted?: boolean },
): Promise<NotificationSettings> {
  const { chat } = await accessChat(deps, userId, chatId, 'member');
  const patch: Record<string, unknown> = {};
  if (update.level !== undefined) patch.notify_level = update.level;
  if (update.muted !== undefined) patch.muted = update.muted;
  if (Object.keys(patch).length === 0) return getNotificationSettings(deps, userId, chatId);
  const { settings, recorded } = await deps.db.transaction(async (trx) => {
    const [row] = await trx('chat_members').where({ chat_id: chatId, user_id: userId }).update(patch).returning(['notify_level', 'muted']);
    if (!row) throw new NotFoundError('chat');
    const settings = toSettings(chatId, chat.type, row);
    const event = { type: 'notifications.updated' as const, workspace_id: chat.workspace_id, chat_id: chatId, user_id: userId, data: { ...settings } };
    return { settings, recorded: await recordEvents(trx, [event]) };
  });
  await publishOutbox(deps, recorded);
  return settings;
}
