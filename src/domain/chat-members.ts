// Chat membership: list, add, remove/leave, join a public chat. Every change records
// chat.member_joined / chat.member_left in the outbox in its transaction, invalidates the access
// cache for the users concerned after COMMIT, then publishes; the fanout uses those events to
// keep live connections' membership current.
import { accessChat, canManageChat, invalidateChatMembers } from './access.js';
import { joinedEvents, leftEvents } from './chat-events.js';
import { loadChat, requireWorkspaceMembers, type Chat, type ChatDeps } from './chats.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import { publishOutbox, recordEvents } from './outbox.js';
import { iso, joinedUser, userColumns, type User } from './users.js';
import type { Page, PageRequest } from './workspaces.js';

export interface ChatMember {
  user: User;
  joined_at: string;
  last_read_seq: number;
}

/** Members of a chat the caller can read, ordered by user id (cursor = last user id). */
export async function listChatMembers(deps: ChatDeps, userId: string, chatId: string, page: PageRequest): Promise<Page<ChatMember>> {
  await accessChat(deps, userId, chatId, 'read');
  const query = deps
    .db('chat_members as cm')
    .join('users as u', 'u.id', 'cm.user_id')
    .where('cm.chat_id', chatId)
    .orderBy('cm.user_id')
    .limit(page.limit + 1)
    .select(...userColumns, 'cm.joined_at', 'cm.last_read_seq');
  if (page.cursor) query.where('cm.user_id', '>', page.cursor);
  const rows = await query;
  const items = rows.slice(0, page.limit).map((row) => ({ user: joinedUser(row), joined_at: iso(row.joined_at)!, last_read_seq: Number(row.last_read_seq) }));
  return { items, next_cursor: rows.length > page.limit ? items[items.length - 1].user.id : null };
}

/** Chat members (not guests) add workspace members. Already-present users are skipped. */
export async function addChatMembers(deps: ChatDeps, userId: string, chatId: string, userIds: string[]): Promise<{ chat: Chat; added_user_ids: string[] }> {
  const access = await accessChat(deps, userId, chatId, 'member');
  if (access.role === 'guest') throw new ForbiddenError('Guests cannot add people to chats.');
  if (access.chat.archived_at) throw new ForbiddenError('This chat is archived.');
  if (access.chat.type === 'direct') {
    throw new ValidationError('A direct chat always has exactly two people; create a group instead.', [
      { field: 'user_ids', code: 'invalid_for_type', message: 'direct chats cannot grow' },
    ]);
  }
  const wanted = [...new Set(userIds)];
  const workspaceId = access.chat.workspace_id;
  await requireWorkspaceMembers(deps.db, workspaceId, wanted, 'user_ids');
  const { added, recorded } = await deps.db.transaction(async (trx) => {
    // Insert from workspace_members, so someone removed from the workspace meanwhile is skipped.
    const { rows } = await trx.raw(
      `insert into chat_members (chat_id, user_id, workspace_id)
       select ?, wm.user_id, wm.workspace_id from workspace_members wm where wm.workspace_id = ? and wm.user_id = any(?::bigint[])
       on conflict (chat_id, user_id) do nothing
       returning user_id`,
      [chatId, workspaceId, wanted],
    );
    const added = rows.map((r: { user_id: string }) => String(r.user_id));
    return { added, recorded: await recordEvents(trx, await joinedEvents(trx, workspaceId, chatId, added)) };
  });
  invalidateChatMembers(deps, chatId, added);
  await publishOutbox(deps, recorded);
  return { chat: await loadChat(deps.db, chatId), added_user_ids: added };
}

/** Leave (anyone, themself) or remove someone (chat creator or workspace admin+). */
export async function removeChatMember(deps: ChatDeps, userId: string, chatId: string, targetId: string): Promise<void> {
  const access = await accessChat(deps, userId, chatId, 'read');
  if (targetId !== userId && !canManageChat(access, userId)) {
    throw new ForbiddenError('Only the chat creator or a workspace admin may remove members.');
  }
  const recorded = await deps.db.transaction(async (trx) => {
    const removed = await trx('chat_members').where({ chat_id: chatId, user_id: targetId }).del();
    if (!removed) throw new NotFoundError('chat member');
    return recordEvents(trx, leftEvents(access.chat.workspace_id, chatId, [targetId]));
  });
  invalidateChatMembers(deps, chatId, [targetId]);
  await publishOutbox(deps, recorded);
}

/** Joins a public chat (non-guest workspace members). Joining again changes nothing. */
export async function joinChat(deps: ChatDeps, userId: string, chatId: string): Promise<Chat> {
  // `read` already hides private chats and, from guests, public ones (404).
  const access = await accessChat(deps, userId, chatId, 'read');
  if (access.is_member) return loadChat(deps.db, chatId);
  if (access.chat.archived_at) throw new ForbiddenError('This chat is archived.');
  const recorded = await deps.db.transaction(async (trx) => {
    const inserted = await trx('chat_members')
      .insert({ chat_id: chatId, user_id: userId, workspace_id: access.chat.workspace_id })
      .onConflict(['chat_id', 'user_id'])
      .ignore()
      .returning('user_id');
    return recordEvents(trx, await joinedEvents(trx, access.chat.workspace_id, chatId, inserted.length ? [userId] : []));
  });
  invalidateChatMembers(deps, chatId, [userId]);
  await publishOutbox(deps, recorded);
  return loadChat(deps.db, chatId);
}
