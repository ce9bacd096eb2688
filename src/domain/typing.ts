// Typing indicators: ephemeral, straight to the event stream (no BullMQ, no Postgres).
// A chat gets at most one typing event per user per second, however fast the keys repeat.
import type { Deps } from '../deps.js';
import { publishEvents } from '../infra/events.js';
import { accessChat } from './access.js';

export const TYPING_TTL_MS = 5000;
const TYPING_MIN_INTERVAL_MS = 1000;

type TypingDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config' | 'stream'>;

/** Marks the user as typing in the chat for about 5 s. Returns whether an event was sent. */
export async function startTyping(deps: TypingDeps, userId: string, chatId: string): Promise<boolean> {
  const { chat } = await accessChat(deps, userId, chatId, 'member');
  const first = await deps.redis.set(deps.keys.typing(chatId, userId), '1', 'PX', TYPING_MIN_INTERVAL_MS, 'NX');
  if (first !== 'OK') return false;
  await publishEvents(deps.redis, deps.stream, [
    {
      type: 'typing',
      workspace_id: chat.workspace_id,
      chat_id: chatId,
      data: { user_id: userId, expires_at: new Date(Date.now() + TYPING_TTL_MS).toISOString() },
    },
  ]);
  return true;
}
