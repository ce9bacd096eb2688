// Authorization in one place (Zulip's access_* helpers): load a workspace or chat *as seen by a
// user*. Inaccessible and non-existent answer the same NotFoundError, so strangers learn nothing.
// Look-ups are cached in Redis for CACHE_TTL_SECONDS; every change of membership, role or chat
// calls the matching invalidate* function, so a removed member loses access at once.
import type { Db } from '../infra/db.js';
import type { Redis, RedisKeys } from '../infra/redis.js';
import { cached, dropCached, type Cached } from './cache.js';
import { ForbiddenError, NotFoundError } from '../errors.js';

export const ROLES = ['owner', 'admin', 'member', 'guest'] as const;
export type Role = (typeof ROLES)[number];
export const CHAT_TYPES = ['public', 'private', 'group', 'direct'] as const;
export type ChatType = (typeof CHAT_TYPES)[number];

export interface AccessDeps {
  db: Db;
  redis: Redis;
  keys: RedisKeys;
  config: { CACHE_TTL_SECONDS: number };
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

const roleEntry = (deps: AccessDeps, userId: string, workspaceId: string): Cached<Role | null> => ({
  key: deps.keys.cache(`wm:${workspaceId}:${userId}`),
  load: async () => {
    const row = await deps.db('workspace_members').where({ workspace_id: workspaceId, user_id: userId }).first('role');
    return (row?.role as Role | undefined) ?? null;
  },
});

const chatEntry = (deps: AccessDeps, chatId: string): Cached<ChatRecord | null> => ({
  key: deps.keys.cache(`chat:${chatId}`),
  load: async () => {
    const row = await deps.db('chats').where({ id: chatId }).first('id', 'workspace_id', 'type', 'name', 'created_by', 'archived_at');
    return row ? { ...row, archived_at: row.archived_at ? new Date(row.archived_at).toISOString() : null } : null;
  },
});

const memberEntry = (deps: AccessDeps, userId: string, chatId: string): Cached<boolean> => ({
  key: deps.keys.cache(`cm:${chatId}:${userId}`),
  load: async () => Boolean(await deps.db('chat_members').where({ chat_id: chatId, user_id: userId }).first('user_id')),
});

async function workspaceRole(deps: AccessDeps, userId: string, workspaceId: string): Promise<Role | null> {
  const [role] = await cached<[Role | null]>(deps, roleEntry(deps, userId, workspaceId));
  return role;
}

/**
 * chat id -> workspace id, remembered in process (per database): a chat never changes workspace,
 * and knowing it up front lets accessChat read the chat, the role and the membership in one
 * round trip.
 */
const CHAT_WORKSPACE_MAX = 100_000;
const chatWorkspaces = new WeakMap<Db, Map<string, string>>();

async function chatWithMembership(deps: AccessDeps, userId: string, chatId: string): Promise<[ChatRecord | null, Role | null, boolean]> {
  let chatWorkspace = chatWorkspaces.get(deps.db);
  if (!chatWorkspace) chatWorkspaces.set(deps.db, (chatWorkspace = new Map()));
  const workspaceId = chatWorkspace.get(chatId);
  if (workspaceId !== undefined) return cached(deps, chatEntry(deps, chatId), roleEntry(deps, userId, workspaceId), memberEntry(deps, userId, chatId));
  const [chat, isMember] = await cached<[ChatRecord | null, boolean]>(deps, chatEntry(deps, chatId), memberEntry(deps, userId, chatId));
  if (!chat) return [null, null, false];
  if (chatWorkspace.size >= CHAT_WORKSPACE_MAX) chatWorkspace.clear();
  chatWorkspace.set(chatId, chat.workspace_id);
  return [chat, await workspaceRole(deps, userId, chat.workspace_id), isMember];
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

/** Call after any change to a user's workspace membership or role. */
export async function invalidateWorkspaceMember(deps: AccessDeps, workspaceId: string, userId: string): Promise<void> {
  await dropCached(deps, [deps.keys.cache(`wm:${workspaceId}:${userId}`)]);
}

/** Call after a chat is updated or archived. */
export async function invalidateChat(deps: AccessDeps, chatId: string): Promise<void> {
  await dropCached(deps, [deps.keys.cache(`chat:${chatId}`)]);
}

/** Call after users join or leave a chat. */
export async function invalidateChatMembers(deps: AccessDeps, chatId: string, userIds: string[]): Promise<void> {
  await dropCached(
    deps,
    userIds.map((u) => deps.keys.cache(`cm:${chatId}:${u}`)),
  );
}

/** Chat creator or workspace admin+ may rename and archive a chat and remove its members. */
export function canManageChat(access: ChatAccess, userId: string): boolean {
  return access.chat.created_by === userId || roleAtLeast(access.role, 'admin');
}
