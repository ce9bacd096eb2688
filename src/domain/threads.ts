// Threads: replies to a root message (messages.thread_root_id), one level deep. Replies are
// messages of the chat (same gapless seq, same history, same persist path), with these rules:
//   - a reply does not count towards the chat's unread_count (it is not in the main timeline);
//     it counts towards the thread's unread_count for those who follow the thread;
//   - a mention in a reply counts towards the chat's mention_count (and the mentions feed) like
//     any mention: you were called, wherever it was;
//   - the root's author, each replier and each person a reply mentions follow the thread
//     (unless they unfollowed it); following is per user and private.
// Follow and read state changes are writes with a user-scoped `thread.updated` event (outbox.ts).
import type { Knex } from 'knex';
import type { Deps } from '../deps.js';
import { accessWorkspace } from './access.js';
import { ValidationError } from '../errors.js';
import {
  accessStoredMessage,
  HISTORY_DEFAULT_LIMIT,
  HISTORY_MAX_LIMIT,
  MESSAGE_COLUMNS,
  toMessage,
  checkIdCursor,
  withDetails,
  type Message,
} from './messages.js';
import { publishOutbox, recordEvents } from './outbox.js';

type ThreadDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config' | 'stream' | 'log'>;

export interface ThreadState {
  root_id: string;
  chat_id: string;
  following: boolean;
  /** The seq of the newest reply I have read. */
  last_read_seq: number;
  /** Replies after last_read_seq, not mine, not deleted. */
  unread_count: number;
}

const THREAD_UNREAD_SQL = `(select count(*)::int from messages m
   where m.thread_root_id = tf.root_id and m.seq > tf.last_read_seq and m.sender_id <> tf.user_id and m.deleted_at is null)`;

async function threadState(db: Knex, userId: string, rootId: string, chatId: string): Promise<ThreadState> {
  const row = await db('thread_follows as tf')
    .where({ 'tf.user_id': userId, 'tf.root_id': rootId })
    .first('tf.following', 'tf.last_read_seq', db.raw(`${THREAD_UNREAD_SQL} as unread_count`));
  return row
    ? { root_id: rootId, chat_id: chatId, following: row.following, last_read_seq: Number(row.last_read_seq), unread_count: Number(row.unread_count) }
    : { root_id: rootId, chat_id: chatId, following: false, last_read_seq: 0, unread_count: 0 };
}

/** A root message I can read (not a reply itself): what every thread verb starts from. */
async function accessRoot(deps: ThreadDeps, userId: string, rootId: string, mode: 'read' | 'member') {
  const { message } = await accessStoredMessage(deps, userId, rootId, mode);
  if (message.thread_root_id !== null)
    throw new ValidationError('This message is a reply; its thread is the one of its root.', [
      { field: 'mid', code: 'not_a_root', message: 'threads are one level deep', root_id: message.thread_root_id },
    ]);
  return message;
}

/** The root and a page of its replies, oldest first (`after` a seq) or newest page first (`before`). */
export async function getThread(deps: ThreadDeps, userId: string, rootId: string, page: { after?: number; before?: number; limit?: number }) {
  const root = await accessRoot(deps, userId, rootId, 'read');
  const limit = Math.min(page.limit ?? HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT);
  const q = deps.db('messages').where({ thread_root_id: rootId }).select(MESSAGE_COLUMNS);
  if (page.after !== undefined) q.where('seq', '>', page.after);
  if (page.before !== undefined) q.where('seq', '<', page.before);
  const newestFirst = page.after === undefined && page.before !== undefined;
  const rows = await q.orderBy('seq', newestFirst ? 'desc' : 'asc').limit(limit + 1);
  const shown = rows.slice(0, limit);
  if (newestFirst) shown.reverse();
  const [rootMessage, ...replies] = await withDetails(deps.db, [
    toMessage(await deps.db('messages').where({ id: rootId }).first(MESSAGE_COLUMNS)),
    ...shown.map(toMessage),
  ]);
  return { root: rootMessage, items: replies, has_more: rows.length > limit, thread: await threadState(deps.db, userId, rootId, root.chat_id) };
}

async function changeThread(
  deps: ThreadDeps,
  userId: string,
  root: { id: string; chat_id: string; workspace_id: string },
  change: (trx: Knex.Transaction) => Promise<boolean>,
): Promise<ThreadState> {
  const { state, recorded } = await deps.db.transaction(async (trx) => {
    const changed = await change(trx);
    const state = await threadState(trx, userId, root.id, root.chat_id);
    const event = { type: 'thread.updated' as const, workspace_id: root.workspace_id, chat_id: root.chat_id, user_id: userId, data: { ...state } };
    return { state, recorded: changed ? await recordEvents(trx, [event]) : [] };
  });
  await publishOutbox(deps, recorded);
  return state;
}

/** Follow (`on`) or unfollow; unfollowing sticks (replying or being mentioned does not follow again). Members only. */
export async function followThread(deps: ThreadDeps, userId: string, rootId: string, on: boolean): Promise<ThreadState> {
  const root = await accessRoot(deps, userId, rootId, 'member');
  return changeThread(deps, userId, root, async (trx) => {
    const rows = await trx.raw(
      `insert into thread_follows (user_id, root_id, chat_id, following) values (?, ?, ?, ?)
       on conflict (user_id, root_id) do update set following = excluded.following where thread_follows.following <> excluded.following
       returning user_id`,
      [userId, rootId, root.chat_id, on],
    );
    return rows.rows.length > 0;
  });
}

/**
 * Moves my read mark of a thread I follow (or unfollowed) forward to `seq` (capped at the newest
 * reply; never back). A thread I never followed keeps no state: reading it does not count as
 * unfollowing, so a later reply or mention still follows it.
 */
export async function markThreadRead(deps: ThreadDeps, userId: string, rootId: string, seq: number): Promise<ThreadState> {
  const root = await accessRoot(deps, userId, rootId, 'member');
  return changeThread(deps, userId, root, async (trx) => {
    const moved = await trx('thread_follows')
      .where({ user_id: userId, root_id: rootId })
      .where('last_read_seq', '<', trx.raw('least(?::bigint, coalesce((select max(seq) from messages where thread_root_id = ?), 0))', [seq, rootId]))
      .update({ last_read_seq: trx.raw('least(?::bigint, coalesce((select max(seq) from messages where thread_root_id = ?), 0))', [seq, rootId]) });
    return moved > 0;
  });
}

export interface FollowedThread {
  root: Message;
  thread: ThreadState;
}

/** Threads I follow, most recent reply first, in chats I am still in; optionally one workspace. */
export async function listMyThreads(
  deps: ThreadDeps,
  userId: string,
  query: { workspace_id?: string; limit?: number; cursor?: string },
): Promise<{ items: FollowedThread[]; next_cursor: string | null }> {
  if (query.workspace_id !== undefined) await accessWorkspace(deps, userId, query.workspace_id);
  const limit = Math.min(query.limit ?? HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT);
  checkIdCursor(query.cursor);
  const q = deps
    .db('thread_follows as tf')
    .join('messages as r', 'r.id', 'tf.root_id')
    .join('chat_members as cm', (j) => j.on('cm.chat_id', 'tf.chat_id').andOn('cm.user_id', 'tf.user_id'))
    .where({ 'tf.user_id': userId, 'tf.following': true })
    .whereNotNull('r.last_reply_at')
    .orderBy([
      { column: 'r.last_reply_at', order: 'desc' },
      { column: 'r.id', order: 'desc' },
    ])
    .limit(limit + 1)
    .select(...MESSAGE_COLUMNS.map((c) => `r.${c}`), 'tf.following', 'tf.last_read_seq', deps.db.raw(`${THREAD_UNREAD_SQL} as unread_count`));
  if (query.workspace_id !== undefined) q.where('r.workspace_id', query.workspace_id);
  if (query.cursor !== undefined) q.whereRaw('(r.last_reply_at, r.id) < (select last_reply_at, id from messages where id = ?)', [query.cursor]);
  const rows = await q;
  const page = rows.slice(0, limit);
  const roots = await withDetails(deps.db, page.map(toMessage));
  const items = page.map((r, i) => ({
    root: roots[i],
    thread: {
      root_id: roots[i].id,
      chat_id: roots[i].chat_id,
      following: r.following,
      last_read_seq: Number(r.last_read_seq),
      unread_count: Number(r.unread_count),
    },
  }));
  return { items, next_cursor: rows.length > limit ? items[items.length - 1].root.id : null };
}
