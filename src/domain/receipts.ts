// Read watermarks and unread counts. A read mark is queued (202) and applied by the receipts
// worker, which coalesces bursts and only ever moves a watermark forward.
import type { Deps } from '../deps.js';
import type { ChatEvent } from '../infra/events.js';
import type { ReceiptJob } from '../infra/queues.js';
import { accessChat, accessWorkspace } from './access.js';
import { NotFoundError } from '../errors.js';
import { publishOutbox, recordEvents } from './outbox.js';
import { iso } from './users.js';

type ReceiptDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config' | 'queues' | 'stream' | 'log'>;

/** Queues a read mark for the caller; only members of the chat may mark it read. */
export async function markRead(deps: ReceiptDeps, userId: string, chatId: string, seq: number): Promise<void> {
  const { chat } = await accessChat(deps, userId, chatId, 'member');
  const job: ReceiptJob = { chat_id: chatId, workspace_id: chat.workspace_id, user_id: userId, seq, read_at: new Date().toISOString() };
  await deps.queues.receipts.add('read', job);
}

/**
 * Applies read marks: many marks of one user in one chat become one UPDATE with the highest
 * seq (capped at the chat's last_seq), applied only where it moves the watermark forward.
 * Records `receipt.updated` for each watermark that moved in the same transaction (outbox.ts).
 */
export async function applyReceipts(deps: ReceiptDeps, jobs: ReceiptJob[]): Promise<number> {
  const latest = new Map<string, ReceiptJob>();
  for (const job of jobs) {
    const key = `${job.chat_id}:${job.user_id}`;
    const seen = latest.get(key);
    if (!seen || job.seq > seen.seq || (job.seq === seen.seq && job.read_at > seen.read_at)) latest.set(key, job);
  }
  const marks = [...latest.values()];
  if (marks.length === 0) return 0;
  const values = marks.map(() => '(?::bigint, ?::bigint, ?::bigint, ?::timestamptz)').join(', ');
  const recorded = await deps.db.transaction(async (trx) => {
    const { rows } = await trx.raw(
      `update chat_members cm
          set last_read_seq = least(v.seq, c.last_seq), read_at = v.read_at
         from (values ${values}) as v(chat_id, user_id, seq, read_at), chats c
        where cm.chat_id = v.chat_id and cm.user_id = v.user_id and c.id = v.chat_id
          and cm.last_read_seq < least(v.seq, c.last_seq)
    returning cm.chat_id, cm.workspace_id, cm.user_id, cm.last_read_seq, cm.read_at`,
      marks.flatMap((m) => [m.chat_id, m.user_id, m.seq, m.read_at]),
    );
    const events: ChatEvent[] = rows.map((r: { chat_id: string; workspace_id: string; user_id: string; last_read_seq: string; read_at: Date }) => ({
      type: 'receipt.updated',
      workspace_id: String(r.workspace_id),
      chat_id: String(r.chat_id),
      data: { user_id: String(r.user_id), last_read_seq: Number(r.last_read_seq), read_at: iso(r.read_at) },
    }));
    return recordEvents(trx, events);
  });
  await publishOutbox(deps, recorded);
  return recorded.length;
}

export async function listReceipts(deps: ReceiptDeps, userId: string, chatId: string) {
  await accessChat(deps, userId, chatId, 'read');
  const rows = await deps.db('chat_members').where({ chat_id: chatId }).orderBy('user_id').select('user_id', 'last_read_seq', 'read_at');
  return rows.map((r) => ({ user_id: String(r.user_id), last_read_seq: Number(r.last_read_seq), read_at: iso(r.read_at) }));
}

/** Members (other than the sender) whose watermark has reached the message. */
export async function messageReaders(deps: ReceiptDeps, userId: string, messageId: string) {
  const message = await deps.db('messages').where({ id: messageId }).first('chat_id', 'seq', 'sender_id');
  if (!message) throw new NotFoundError('message');
  await accessChat(deps, userId, String(message.chat_id), 'read').catch(() => {
    throw new NotFoundError('message');
  });
  const rows = await deps
    .db('chat_members')
    .where({ chat_id: message.chat_id })
    .andWhere('last_read_seq', '>=', message.seq)
    .andWhereNot('user_id', message.sender_id)
    .orderBy('read_at')
    .select('user_id', 'read_at');
  return rows.map((r) => ({ user_id: String(r.user_id), read_at: iso(r.read_at) }));
}

/**
 * API.md's unread count of the chat_members row aliased `cm`: messages after the watermark, not
 * sent by the member, not deleted, not thread replies (threads count their own, threads.ts).
 * One index range scan on (chat_id, seq) from the watermark.
 */
export const UNREAD_COUNT_SQL = `(select count(*)::int from messages m
   where m.chat_id = cm.chat_id and m.seq > cm.last_read_seq and m.sender_id <> cm.user_id and m.deleted_at is null
     and m.thread_root_id is null)`;

/**
 * Mentions of the member `cm` above their watermark, in messages not deleted: mention_count.
 * Derived like the unread count, so reading clears it and nothing can drift.
 */
export const MENTION_COUNT_SQL = `(select count(*)::int from mention_recipients r join messages m on m.id = r.message_id
   where r.user_id = cm.user_id and r.chat_id = cm.chat_id and r.seq > cm.last_read_seq and m.deleted_at is null)`;

export interface ChatUnread {
  chat_id: string;
  unread_count: number;
  mention_count: number;
  last_read_seq: number;
  last_seq: number;
}

/** Unread counts of every chat of a user in a workspace, in one query. */
export async function unreadCounts(deps: Pick<Deps, 'db'>, userId: string, workspaceId: string, chatIds?: string[]): Promise<ChatUnread[]> {
  const query = deps
    .db('chat_members as cm')
    .join('chats as c', 'c.id', 'cm.chat_id')
    .where('cm.user_id', userId)
    .andWhere('cm.workspace_id', workspaceId)
    .select(
      'cm.chat_id',
      'cm.last_read_seq',
      'c.last_seq',
      deps.db.raw(`${UNREAD_COUNT_SQL} as unread_count`),
      deps.db.raw(`${MENTION_COUNT_SQL} as mention_count`),
    )
    .orderBy('cm.chat_id');
  if (chatIds) query.whereIn('cm.chat_id', chatIds);
  const rows = await query;
  return rows.map((r) => ({
    chat_id: String(r.chat_id),
    unread_count: Number(r.unread_count),
    mention_count: Number(r.mention_count),
    last_read_seq: Number(r.last_read_seq),
    last_seq: Number(r.last_seq),
  }));
}

export async function workspaceUnread(deps: ReceiptDeps, userId: string, workspaceId: string) {
  await accessWorkspace(deps, userId, workspaceId);
  const chats = await unreadCounts(deps, userId, workspaceId);
  return {
    chats,
    total: chats.reduce((sum, c) => sum + c.unread_count, 0),
    mention_total: chats.reduce((sum, c) => sum + c.mention_count, 0),
  };
}
