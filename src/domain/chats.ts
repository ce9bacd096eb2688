// Chats: create, list (with unread counts), browse public, read, rename, archive.
// Membership verbs live in chat-members.ts. Authorization goes through access.ts; every change
// records its event in the outbox in its own transaction, invalidates the access cache after
// COMMIT, then publishes (outbox.ts).
import type { Knex } from 'knex';
import type { Deps } from '../deps.js';
import { accessChat, accessWorkspace, canManageChat, invalidateChat, invalidateChatMembers, type ChatType } from './access.js';
import { joinedEvents } from './chat-events.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import type { NotifyLevel } from './notification-settings.js';
import { MENTION_COUNT_SQL, UNREAD_COUNT_SQL } from './receipts.js';
import { iso } from './users.js';
import { toMessage, withDetails, type Message } from './messages.js';
import { publishOutbox, recordEvents } from './outbox.js';

export interface Chat {
  id: string;
  workspace_id: string;
  type: ChatType;
  name: string | null;
  topic: string | null;
  created_by: string;
  created_at: string;
  last_seq: number;
  member_count: number;
  archived_at: string | null;
}

/** A chat's newest message (the API's `message` object), or null for an empty chat. */
export type LastMessage = Message;

export interface MyChat extends Chat {
  unread_count: number;
  mention_count: number;
  notify_level: NotifyLevel;
  muted: boolean;
  last_read_seq: number;
  last_message: LastMessage | null;
}

export type ChatDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config' | 'stream' | 'log'>;

/** Select list for `chats as c`, read back with toChat. */
export function chatColumns(db: Knex) {
  return [
    'c.id',
    'c.workspace_id',
    'c.type',
    'c.name',
    'c.topic',
    'c.created_by',
    'c.created_at',
    'c.last_seq',
    'c.archived_at',
    db.raw('(select count(*)::int from chat_members x where x.chat_id = c.id) as member_count'),
  ];
}

export function toChat(row: Record<string, any>): Chat {
  return {
    id: String(row.id),
    workspace_id: String(row.workspace_id),
    type: row.type,
    name: row.name ?? null,
    topic: row.topic ?? null,
    created_by: String(row.created_by),
    created_at: iso(row.created_at)!,
    last_seq: Number(row.last_seq),
    member_count: Number(row.member_count),
    archived_at: iso(row.archived_at),
  };
}

export async function loadChat(db: Knex, chatId: string): Promise<Chat> {
  const row = await db('chats as c').where('c.id', chatId).first(chatColumns(db));
  if (!row) throw new NotFoundError('chat');
  return toChat(row);
}

/** Rejects user ids that are not members of the workspace, naming them (400). */
export async function requireWorkspaceMembers(db: Knex, workspaceId: string, userIds: string[], field: string): Promise<void> {
  if (userIds.length === 0) return;
  const rows = await db('workspace_members').where({ workspace_id: workspaceId }).whereIn('user_id', userIds).select('user_id');
  const found = new Set(rows.map((r) => String(r.user_id)));
  const missing = userIds.filter((id) => !found.has(id));
  if (missing.length) {
    throw new ValidationError(`Not members of this workspace: ${missing.join(', ')}.`, [
      { field, code: 'not_workspace_member', message: 'these users are not members of the workspace', user_ids: missing },
    ]);
  }
}

export interface CreateChatInput {
  type: ChatType;
  name?: string | null;
  topic?: string | null;
  member_ids?: string[];
}

function checkShape(input: CreateChatInput, others: string[], given: string[]): void {
  const fail = (field: string, message: string) => {
    throw new ValidationError(message, [{ field, code: 'invalid_for_type', message }]);
  };
  if ((input.type === 'public' || input.type === 'private') && !input.name) fail('name', `A ${input.type} chat needs a name.`);
  if (input.type === 'group' && others.length < 1) fail('member_ids', 'A group needs at least one other member.');
  if (input.type === 'direct') {
    if (others.length !== 1 || given.length !== 1) fail('member_ids', 'A direct chat takes exactly one other member.');
    if (input.name != null) fail('name', 'A direct chat has no name.');
  }
}

/** `<workspace>:<low user id>:<high user id>`: one direct chat per pair (a unique column). */
export function directKey(workspaceId: string, a: string, b: string): string {
  const [low, high] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
  return `${workspaceId}:${low}:${high}`;
}

/**
 * Creates a chat with the caller as a member (guests cannot). For `direct`, an existing chat of
 * the pair is returned instead (`created: false`), re-adding either person if they had left.
 */
export async function createChat(deps: ChatDeps, userId: string, workspaceId: string, input: CreateChatInput): Promise<{ chat: Chat; created: boolean }> {
  await accessWorkspace(deps, userId, workspaceId, 'member');
  const given = [...new Set(input.member_ids ?? [])];
  const others = given.filter((id) => id !== userId);
  checkShape(input, others, given);
  await requireWorkspaceMembers(deps.db, workspaceId, others, 'member_ids');
  const memberIds = [userId, ...others];
  const key = input.type === 'direct' ? directKey(workspaceId, userId, others[0]) : null;

  const outcome = await deps.db.transaction(async (trx) => {
    const [row] = await trx('chats')
      .insert({ workspace_id: workspaceId, type: input.type, name: input.name ?? null, topic: input.topic ?? null, created_by: userId, direct_key: key })
      .onConflict('direct_key')
      .ignore()
      .returning('id');
    const chatId = row ? String(row.id) : String((await trx('chats').where({ direct_key: key }).first('id')).id);
    const joined = await trx('chat_members')
      .insert(memberIds.map((id) => ({ chat_id: chatId, user_id: id, workspace_id: workspaceId })))
      .onConflict(['chat_id', 'user_id'])
      .ignore()
      .returning('user_id');
    const chat = await loadChat(trx, chatId);
    const events = row
      ? [{ type: 'chat.created' as const, workspace_id: workspaceId, chat_id: chatId, data: { ...chat, member_ids: memberIds } }]
      : await joinedEvents(
          trx,
          workspaceId,
          chatId,
          joined.map((r: { user_id: string }) => String(r.user_id)),
        );
    return { chat, created: Boolean(row), recorded: await recordEvents(trx, events) };
  });

  // The new id may have been probed (and cached as missing) before it existed.
  invalidateChat(deps, outcome.chat.id);
  invalidateChatMembers(deps, outcome.chat.id, memberIds);
  await publishOutbox(deps, outcome.recorded);
  return { chat: outcome.chat, created: outcome.created };
}

/**
 * The caller's chats in one query: each with its unread and mention counts (receipts.ts) and its
 * newest message outside threads, most recently active first.
 */
export async function listMyChats(deps: ChatDeps, userId: string, workspaceId: string): Promise<MyChat[]> {
  await accessWorkspace(deps, userId, workspaceId);
  const { rows } = await deps.db.raw(
    `select c.id, c.workspace_id, c.type, c.name, c.topic, c.created_by, c.created_at, c.last_seq, c.archived_at,
            (select count(*)::int from chat_members x where x.chat_id = c.id) as member_count,
            cm.last_read_seq,
            ${UNREAD_COUNT_SQL} as unread_count,
            ${MENTION_COUNT_SQL} as mention_count,
            cm.notify_level, cm.muted,
            lm.doc as last_message
       from chat_members cm
       join chats c on c.id = cm.chat_id
       left join lateral (
         select m.created_at, to_jsonb(m) - 'tsv' as doc from messages m
          where m.chat_id = c.id and m.thread_root_id is null order by m.seq desc limit 1
       ) lm on true
      where cm.user_id = ? and cm.workspace_id = ?
      order by coalesce(lm.created_at, c.created_at) desc, c.id desc`,
    [userId, workspaceId],
  );
  const last = await withDetails(
    deps.db,
    rows.filter((r: Record<string, any>) => r.last_message).map((r: Record<string, any>) => toMessage(r.last_message)),
  );
  const lastById = new Map(last.map((m) => [m.chat_id, m]));
  return rows.map((row: Record<string, any>) => ({
    ...toChat(row),
    unread_count: Number(row.unread_count),
    mention_count: Number(row.mention_count),
    notify_level: row.notify_level,
    muted: row.muted,
    last_read_seq: Number(row.last_read_seq),
    last_message: lastById.get(String(row.id)) ?? null,
  }));
}

/** Public, unarchived chats the caller has not joined yet. Guests cannot join public chats: 403. */
export async function browsePublicChats(deps: ChatDeps, userId: string, workspaceId: string): Promise<Chat[]> {
  const access = await accessWorkspace(deps, userId, workspaceId);
  if (access.role === 'guest') throw new ForbiddenError('Guests cannot browse public chats.');
  const rows = await deps
    .db('chats as c')
    .where({ 'c.workspace_id': workspaceId, 'c.type': 'public' })
    .whereNull('c.archived_at')
    .whereNotExists((q) => q.select(deps.db.raw('1')).from('chat_members as me').whereRaw('me.chat_id = c.id').where('me.user_id', userId))
    .orderBy('c.name')
    .orderBy('c.id')
    .select(chatColumns(deps.db));
  return rows.map(toChat);
}

export async function getChat(deps: ChatDeps, userId: string, chatId: string): Promise<Chat> {
  await accessChat(deps, userId, chatId, 'read');
  return loadChat(deps.db, chatId);
}

export interface ChatUpdate {
  name?: string | null;
  topic?: string | null;
}

/** Creator or workspace admin+ (of a chat they can see). `topic: null` clears the topic. */
export async function updateChat(deps: ChatDeps, userId: string, chatId: string, update: ChatUpdate): Promise<Chat> {
  const access = await accessChat(deps, userId, chatId, 'read');
  if (!canManageChat(access, userId)) throw new ForbiddenError('Only the chat creator or a workspace admin may change this chat.');
  const { type } = access.chat;
  if (update.name !== undefined) {
    if (type === 'direct') throw new ValidationError('A direct chat has no name.', [{ field: 'name', code: 'invalid_for_type', message: 'not allowed' }]);
    if (update.name === null && type !== 'group')
      throw new ValidationError(`A ${type} chat needs a name.`, [{ field: 'name', code: 'invalid_for_type', message: 'required' }]);
  }
  const patch: Record<string, unknown> = {};
  if (update.name !== undefined) patch.name = update.name;
  if (update.topic !== undefined) patch.topic = update.topic;
  if (Object.keys(patch).length === 0) return loadChat(deps.db, chatId);
  return changeChat(deps, chatId, (q) => q.update({ ...patch, updated_at: deps.db.fn.now() }));
}

/**
 * Applies `change` to the chat's row and records chat.updated with the chat as it is now, in one
 * transaction; then invalidates the cache and publishes. Nothing happens if no row changed.
 */
async function changeChat(deps: ChatDeps, chatId: string, change: (q: Knex.QueryBuilder) => Knex.QueryBuilder): Promise<Chat> {
  const outcome = await deps.db.transaction(async (trx) => {
    const changed = await change(trx('chats').where({ id: chatId }));
    const chat = await loadChat(trx, chatId);
    const recorded = changed ? await recordEvents(trx, [{ type: 'chat.updated', workspace_id: chat.workspace_id, chat_id: chat.id, data: { ...chat } }]) : [];
    return { chat, recorded };
  });
  if (outcome.recorded.length) {
    invalidateChat(deps, chatId);
    await publishOutbox(deps, outcome.recorded);
  }
  return outcome.chat;
}

/** Archives (no new messages; history stays readable). Archiving twice changes nothing. */
export async function archiveChat(deps: ChatDeps, userId: string, chatId: string): Promise<void> {
  const access = await accessChat(deps, userId, chatId, 'read');
  if (!canManageChat(access, userId)) throw new ForbiddenError('Only the chat creator or a workspace admin may archive this chat.');
  await changeChat(deps, chatId, (q) => q.whereNull('archived_at').update({ archived_at: deps.db.fn.now(), updated_at: deps.db.fn.now() }));
}
