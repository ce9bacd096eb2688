// Authorization in one place (Zulip's access_* helpers): load a workspace or chat *as seen by a
// user*. Inaccessible and non-existent answer the same NotFoundError, so strangers learn nothing.
// Look-ups are cached in this process (access-cache.ts), kept exact by the invalidate* functions
// below and by the changes stream, so a removed member loses access at once.
import type { Db } from '../infra/db.js';
import { accessCache, chatKey, memberKey, roleKey } from './access-cache.js';
import { ForbiddenError, NotFoundError } from '../errors.js';

export const ROLES = ['owner', 'admin', 'member', 'guest'] as const;
export type Role = (typeof ROLES)[number];
export const CHAT_TYPES = ['public', 'private', 'group', 'direct'] as const;
export type ChatType = (typeof CHAT_TYPES)[number];

export interface AccessDeps {
  db: Db;
}

export interface ChatRecord {
  id: string;
  workspace_id: string;
  type: ChatType;
  name: string | null;
  created_by: string;
  archived_at: string | null;
}

export interface WorkspaceAccess {
  workspace_id: string;
  user_id: string;
  role: Role;
}

export interface ChatAccess {
  chat: ChatRecord;
  /** The caller's role in the chat's workspace. */
  role: Role;
  /** Whether the caller is a member of the chat (public chats are readable without it). */
  is_member: boolean;
}

const rank: Record<Role, number> = { owner: 4, admin: 3, member: 2, guest: 1 };
export function roleAtLeast(role: Role, min: Role): boolean {
  return rank[role] >= rank[min];
}

async function loadRole(db: Db, userId: string, workspaceId: string): Promise<Role | null> {
  const row = await db('workspace_members').where({ workspace_id: workspaceId, user_id: userId }).first('role');
  return (row?.role as Role | undefined) ?? null;
}

async function workspaceRole(deps: AccessDeps, userId: string, workspaceId: string): Promise<Role | null> {
  const cache = accessCache(deps.db);
  const hit = cache?.get<Role | null>(roleKey(workspaceId, userId));
  if (hit) return hit.value;
  const generation = cache?.generation ?? 0;
  const role = await loadRole(deps.db, userId, workspaceId);
  cache?.fill(generation, [[roleKey(workspaceId, userId), role]]);
  return role;
}

/** The chat, the caller's role in its workspace and their membership of it, in one query. */
const CHAT_ACCESS_SQL = `select c.id, c.workspace_id, c.type, c.name, c.created_by, c.archived_at,
    (select wm.role from workspace_members wm where wm.workspace_id = c.workspace_id and wm.user_id = ?) as role,
    exists (select 1 from chat_members cm where cm.chat_id = c.id and cm.user_id = ?) as is_member
  from chats c where c.id = ?`;

async function chatWithMembership(deps: AccessDeps, userId: string, chatId: string): Promise<[ChatRecord | null, Role | null, boolean]> {
  const cache = accessCache(deps.db);
  const chatHit = cache?.get<ChatRecord | null>(chatKey(chatId));
  if (chatHit?.value === null) return [null, null, false];
  if (chatHit) {
    const role = cache!.get<Role | null>(roleKey(chatHit.value.workspace_id, userId));
    const member = cache!.get<boolean>(memberKey(chatId, userId));
    if (role && member) return [chatHit.value, role.value, member.value];
  }
  const generation = cache?.generation ?? 0;
  const { rows } = await deps.db.raw<{ rows: Array<Omit<ChatRecord, 'archived_at'> & { archived_at: Date | null; role: Role | null; is_member: boolean }> }>(
    CHAT_ACCESS_SQL,
    [userId, userId, chatId],
  );
  const row = rows[0];
  if (!row) {
    cache?.fill(generation, [[chatKey(chatId), null]]);
    return [null, null, false];
  }
  const { role, is_member: isMember, ...rest } = row;
  const chat: ChatRecord = { ...rest, archived_at: row.archived_at ? new Date(row.archived_at).toISOString() : null };
  cache?.fill(generation, [
    [chatKey(chatId), chat],
    [roleKey(chat.workspace_id, userId), role],
    [memberKey(chatId, userId), isMember],
  ]);
  return [chat, role, isMember];
}

/** The caller's membership of a workspace, with an optional minimum role (403 below it). */
export async function accessWorkspace(deps: AccessDeps, userId: string, workspaceId: string, minRole: Role = 'guest'): Promise<WorkspaceAccess> {
  const role = await workspaceRole(deps, userId, workspaceId);
  if (!role) throw new NotFoundError('workspace');
  if (!roleAtLeast(role, minRole)) throw new ForbiddenError();
  return { workspace_id: workspaceId, user_id: userId, role };
}

/**
 * A chat as the caller may see it.
 * - `read`: chat members; for public chats also any non-guest workspace member.
 * - `member`: chat members only (sending, receipts, typing).
 * Anything else is NotFoundError, never 403.
 */
export async function accessChat(deps: AccessDeps, userId: string, chatId: string, mode: 'read' | 'member' = 'read'): Promise<ChatAccess> {
  const [chat, role, isMember] = await chatWithMembership(deps, userId, chatId);
  if (!chat || !role) throw new NotFoundError('chat');
  const readable = isMember || (mode === 'read' && chat.type === 'public' && role !== 'guest');
  if (!readable) throw new NotFoundError('chat');
  return { chat, role, is_member: isMember };
}

// The invalidate* functions: call right after the COMMIT of a change, before publishing its
// events. They drop this process's entries at once; other processes drop theirs when the events
// reach them (access-cache.ts).

/** Call after any change to a user's workspace membership or role. */
export function invalidateWorkspaceMember(deps: AccessDeps, workspaceId: string, userId: string): void {
  accessCache(deps.db)?.drop([roleKey(workspaceId, userId)]);
}

/** Call after a chat is created, updated or archived. */
export function invalidateChat(deps: AccessDeps, chatId: string): void {
  accessCache(deps.db)?.drop([chatKey(chatId)]);
}

/** Call after users join or leave a chat. */
export function invalidateChatMembers(deps: AccessDeps, chatId: string, userIds: string[]): void {
  accessCache(deps.db)?.drop(userIds.map((u) => memberKey(chatId, u)));
}

/** Chat creator or workspace admin+ may rename and archive a chat and remove its members. */
export function canManageChat(access: ChatAccess, userId: string): boolean {
  return access.chat.created_by === userId || roleAtLeast(access.role, 'admin');
}
