// Publishing chat events after the transaction that caused them has committed (STYLE.md habit 4).
import type { Deps } from '../deps.js';
import { publishEvents, type ChatEvent } from '../infra/events.js';

/**
 * Call only after COMMIT. The state change already happened, so a failed XADD must not turn it
 * into an error response: it is logged, and clients that miss the event catch up over REST.
 */
export async function publishAfterCommit(deps: Pick<Deps, 'redis' | 'stream' | 'log'>, events: ChatEvent[]): Promise<void> {
  if (events.length === 0) return;
  try {
    await publishEvents(deps.redis, deps.stream, events);
  } catch (err) {
    deps.log.error({ err, types: events.map((e) => e.type) }, 'could not publish events after commit');
  }
}

export function memberEvents(type: 'chat.member_joined' | 'chat.member_left', workspaceId: string, chatId: string, userIds: string[]): ChatEvent[] {
  return userIds.map((userId) => ({ type, workspace_id: workspaceId, chat_id: chatId, data: { user_id: userId } }));
}
