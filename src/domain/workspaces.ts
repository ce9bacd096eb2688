// Workspaces (tenants) and their members. Role rules (API.md): admin+ manages members; only an
// owner may grant or take `owner`/`admin`; a workspace always keeps at least one owner.
// Changes of role and membership run under a lock on the workspace row, so two concurrent
// demotions cannot both pass the "another owner remains" check. Every change records its
// workspace.* (and chat.member_left) events in the outbox in its transaction (outbox.ts).
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Deps } from '../deps.js';
import { accessWorkspace, invalidateChatMembers, invalidateWorkspaceMember, roleAtLeast, type Role } from './access.js';
import { leftEvents, workspaceMemberEvent } from './chat-events.js';
import { ConflictError, ForbiddenError, NotFoundError } from '../errors.js';
import { iso, joinedUser, userColumns, type User } from './users.js';
import { publishOutbox, recordEvents, type OutboxDeps } from './outbox.js';
import { presenceOf, type PresenceStatus } from './presence.js';

type WorkspaceDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config'> & OutboxDeps;

export interface Workspace {
  id: string;
  name: string;
  slug: string;
  /** The caller's role. */
  role: Role;
  /** Who may notify a whole chat with @channel/@all/@here: everyone, or admins and owners only. */
  channel_mentions: ChannelMentions;
  created_at: string;
}

export type ChannelMentions = 'everyone' | 'admins';

export interface WorkspaceMember {
  user: User;
  role: Role;
  joined_at: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface PageRequest {
  limit: number;
  /** The last user id of the previous page. */
  cursor?: string;
}

const toWorkspace = (row: Record<string, any>): Workspace => ({
  id: String(row.id),
  name: row.name,
  slug: row.slug,
  role: row.role,
  channel_mentions: row.channel_mentions,
  created_at: iso(row.created_at)!,
});

const WORKSPACE_COLUMNS = ['id', 'name', 'slug', 'channel_mentions', 'created_at'];

/** "Acme Inc." -> "acme-inc"; ASCII letters and digits only, so slugs are safe in URLs. */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug || 'workspace';
}

/** The creator's connections learn of it through workspace.member_joined (they are its first member). */
export async function createWorkspace(deps: WorkspaceDeps, userId: string, name: string): Promise<Workspace> {
  const base = slugify(name);
  const { workspace, recorded } = await deps.db.transaction(async (trx) => {
    // The first try is the plain slug; on a collision a short random suffix (no counting race).
    for (let attempt = 0; attempt < 8; attempt++) {
      const slug = attempt === 0 ? base : `${base}-${randomBytes(3).toString('hex')}`;
      const [row] = await trx('workspaces').insert({ name, slug, created_by: userId }).onConflict('slug').ignore().returning(WORKSPACE_COLUMNS);
      if (!row) continue;
      await trx('workspace_members').insert({ workspace_id: row.id, user_id: userId, role: 'owner' });
      const workspace = toWorkspace({ ...row, role: 'owner' });
      return { workspace, recorded: await recordMemberEvent(trx, 'workspace.member_joined', workspace.id, userId) };
    }
    throw new ConflictError('Could not find a free slug for this name; try another name.');
  });
  // A probe of this id before it existed may have cached "not a member".
  invalidateWorkspaceMember(deps, workspace.id, userId);
  await publishOutbox(deps, recorded);
  return workspace;
}

export async function listWorkspaces(deps: Pick<Deps, 'db'>, userId: string): Promise<Workspace[]> {
  const rows = await deps
    .db('workspace_members as wm')
    .join('workspaces as w', 'w.id', 'wm.workspace_id')
    .where('wm.user_id', userId)
    .orderBy('w.id')
    .select(...WORKSPACE_COLUMNS.map((c) => `w.${c}`), 'wm.role');
  return rows.map(toWorkspace);
}

export async function getWorkspace(deps: Pick<Deps, 'db' | 'redis' | 'keys' | 'config'>, userId: string, workspaceId: string): Promise<Workspace> {
  const access = await accessWorkspace(deps, userId, workspaceId);
  const row = await deps.db('workspaces').where({ id: workspaceId }).first(WORKSPACE_COLUMNS);
  if (!row) throw new NotFoundError('workspace');
  return toWorkspace({ ...row, role: access.role });
}

export interface WorkspaceUpdate {
  name?: string;
  channel_mentions?: ChannelMentions;
}

/** Admin+: rename (the slug stays, so links keep working) or set who may use @channel/@here. workspace.updated carries no role (it is per reader). */
export async function updateWorkspace(deps: WorkspaceDeps, userId: string, workspaceId: string, update: WorkspaceUpdate): Promise<Workspace> {
  const access = await accessWorkspace(deps, userId, workspaceId, 'admin');
  if (update.name === undefined && update.channel_mentions === undefined) return getWorkspace(deps, userId, workspaceId);
  const { row, recorded } = await deps.db.transaction(async (trx) => {
    const [row] = await trx('workspaces').where({ id: workspaceId }).update(update).returning(WORKSPACE_COLUMNS);
    if (!row) throw new NotFoundError('workspace');
    const { role: _, ...workspace } = toWorkspace(row);
    return { row, recorded: await recordEvents(trx, [{ type: 'workspace.updated', workspace_id: workspaceId, chat_id: null, data: workspace }]) };
  });
  await publishOutbox(deps, recorded);
  return toWorkspace({ ...row, role: access.role });
}

function memberQuery(db: Knex, workspaceId: string) {
  return db('workspace_members as wm')
    .join('users as u', 'u.id', 'wm.user_id')
    .where('wm.workspace_id', workspaceId)
    .select(...userColumns, 'wm.role', 'wm.joined_at');
}

const toMember = (row: Record<string, any>): WorkspaceMember => ({ user: joinedUser(row), role: row.role, joined_at: iso(row.joined_at)! });

/** Records workspace.member_joined / member_updated with the member as they are inside `trx`. */
export async function recordMemberEvent(
  trx: Knex.Transaction,
  type: 'workspace.member_joined' | 'workspace.member_updated',
  workspaceId: string,
  userId: string,
) {
  const row = await memberQuery(trx, workspaceId).where('wm.user_id', userId).first();
  return recordEvents(trx, [workspaceMemberEvent(type, workspaceId, toMember(row))]);
}

/** Guests see only themselves and people who share a chat with them. Ordered by user id. */
export async function listMembers(
  deps: Pick<Deps, 'db' | 'redis' | 'keys' | 'config'>,
  userId: string,
  workspaceId: string,
  page: PageRequest,
): Promise<Page<WorkspaceMember & { presence: PresenceStatus }>> {
  const access = await accessWorkspace(deps, userId, workspaceId);
  const query = memberQuery(deps.db, workspaceId)
    .orderBy('wm.user_id')
    .limit(page.limit + 1);
  if (page.cursor) query.where('wm.user_id', '>', page.cursor);
  if (access.role === 'guest') {
    query.where((q) =>
      q
        .where('wm.user_id', userId)
        .orWhereExists((sub) =>
          sub
            .select(deps.db.raw('1'))
            .from('chat_members as mine')
            .join('chat_members as theirs', 'theirs.chat_id', 'mine.chat_id')
            .where('mine.user_id', userId)
            .where('mine.workspace_id', workspaceId)
            .whereRaw('theirs.user_id = wm.user_id'),
        ),
    );
  }
  const rows = await query;
  const more = rows.length > page.limit;
  const members = rows.slice(0, page.limit).map(toMember);
  const presence = await presenceOf(
    deps,
    members.map((m) => m.user.id),
  );
  const items = members.map((m) => ({ ...m, presence: presence.get(m.user.id) ?? 'offline' }));
  return { items, next_cursor: more ? items[items.length - 1].user.id : null };
}

/** Locks the workspace row and reads both roles inside the transaction (the cache may lag). */
async function lockRoles(trx: Knex.Transaction, workspaceId: string, actorId: string, targetId: string) {
  await trx('workspaces').where({ id: workspaceId }).forUpdate().first('id');
  const rows = await trx('workspace_members').where({ workspace_id: workspaceId }).whereIn('user_id', [actorId, targetId]).select('user_id', 'role');
  const roleOf = (id: string) => rows.find((r) => String(r.user_id) === id)?.role as Role | undefined;
  const actor = roleOf(actorId);
  if (!actor) throw new NotFoundError('workspace');
  return { actor, target: roleOf(targetId) };
}

async function ownerCount(trx: Knex.Transaction, workspaceId: string): Promise<number> {
  const [{ n }] = await trx('workspace_members').where({ workspace_id: workspaceId, role: 'owner' }).count({ n: '*' });
  return Number(n);
}

const isPrivileged = (role: Role | undefined) => role === 'owner' || role === 'admin';

export async function changeRole(deps: WorkspaceDeps, actorId: string, workspaceId: string, targetId: string, role: Role): Promise<WorkspaceMember> {
  await accessWorkspace(deps, actorId, workspaceId, 'admin');
  const recorded = await deps.db.transaction(async (trx) => {
    const { actor, target } = await lockRoles(trx, workspaceId, actorId, targetId);
    if (!roleAtLeast(actor, 'admin')) throw new ForbiddenError();
    if (!target) throw new NotFoundError('member');
    if ((isPrivileged(role) || isPrivileged(target)) && actor !== 'owner') {
      throw new ForbiddenError('Only an owner may grant or take the owner and admin roles.');
    }
    if (target === 'owner' && role !== 'owner' && (await ownerCount(trx, workspaceId)) <= 1) {
      throw new ConflictError('A workspace needs at least one owner: make someone else owner first.');
    }
    if (target === role) return [];
    await trx('workspace_members').where({ workspace_id: workspaceId, user_id: targetId }).update({ role });
    return recordMemberEvent(trx, 'workspace.member_updated', workspaceId, targetId);
  });
  invalidateWorkspaceMember(deps, workspaceId, targetId);
  await publishOutbox(deps, recorded);
  const row = await memberQuery(deps.db, workspaceId).where('wm.user_id', targetId).first();
  if (!row) throw new NotFoundError('member');
  return toMember(row);
}

/**
 * Removes a member (admin+) or leaves (anyone, themself). The user leaves every chat of the
 * workspace: each chat gets `chat.member_left`, then the workspace `workspace.member_left`, so
 * the user's live connections stop receiving its chats and its presence at once.
 */
export async function removeMember(deps: WorkspaceDeps, actorId: string, workspaceId: string, targetId: string): Promise<void> {
  const self = actorId === targetId;
  await accessWorkspace(deps, actorId, workspaceId, self ? 'guest' : 'admin');
  const { chatIds, recorded } = await deps.db.transaction(async (trx) => {
    const { actor, target } = await lockRoles(trx, workspaceId, actorId, targetId);
    if (!self && !roleAtLeast(actor, 'admin')) throw new ForbiddenError();
    if (!target) throw new NotFoundError('member');
    if (!self && isPrivileged(target) && actor !== 'owner') {
      throw new ForbiddenError('Only an owner may remove an owner or admin.');
    }
    if (target === 'owner' && (await ownerCount(trx, workspaceId)) <= 1) {
      throw new ConflictError('A workspace needs at least one owner: make someone else owner first.');
    }
    const left = await trx('chat_members').where({ workspace_id: workspaceId, user_id: targetId }).del().returning('chat_id');
    await trx('workspace_members').where({ workspace_id: workspaceId, user_id: targetId }).del();
    const chatIds = left.map((r: { chat_id: string }) => String(r.chat_id));
    const recorded = await recordEvents(trx, [
      ...chatIds.flatMap((chatId) => leftEvents(workspaceId, chatId, [targetId])),
      { type: 'workspace.member_left', workspace_id: workspaceId, chat_id: null, data: { user_id: targetId } },
    ]);
    return { chatIds, recorded };
  });
  invalidateWorkspaceMember(deps, workspaceId, targetId);
  for (const chatId of chatIds) invalidateChatMembers(deps, chatId, [targetId]);
  await publishOutbox(deps, recorded);
}
