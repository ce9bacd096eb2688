// Builders of the membership events domain functions record with their changes (outbox.ts).
// Each carries the user it is about as `data.user_id`: the fanout keeps live connections'
// membership current from them, and the membership log (src/infra/events.ts) records them.
import type { Knex } from 'knex';
import type { ChatEvent } from '../infra/events.js';
import { toUser, USER_COLUMNS } from './users.js';
import type { WorkspaceMember } from './workspaces.js';

/** chat.member_joined with the user (so clients can show who joined without a fetch). */
export async function joinedEvents(db: Knex, workspaceId: string, chatId: string, userIds: string[]): Promise<ChatEvent[]> {
  if (userIds.length === 0) return [];
  const users = await db('users')
    .whereIn('id', userIds)
    .orderBy('id')
    .select(...USER_COLUMNS);
  return users.map((row) => {
    const user = toUser(row);
    return { type: 'chat.member_joined', workspace_id: workspaceId, chat_id: chatId, data: { user_id: user.id, user } };
  });
}

export function leftEvents(workspaceId: string, chatId: string, userIds: string[]): ChatEvent[] {
  return userIds.map((userId) => ({ type: 'chat.member_left', workspace_id: workspaceId, chat_id: chatId, data: { user_id: userId } }));
}

/** workspace.member_joined / member_updated: the member as GET /workspaces/:wid/members shows it. */
export function workspaceMemberEvent(type: 'workspace.member_joined' | 'workspace.member_updated', workspaceId: string, member: WorkspaceMember): ChatEvent {
  return { type, workspace_id: workspaceId, chat_id: null, data: { user_id: member.user.id, ...member } };
}
