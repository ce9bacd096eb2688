// GET /me/mentions: the messages that mentioned me, newest first, in chats I am still in.
// Ordered by the message's creation time (mention_recipients.created_at), ties broken by message
// id; the cursor is the last item's message id, looked up to its position. One index range scan
// per page: (user_id, created_at, message_id), or with the workspace after user_id.
import type { Deps } from '../deps.js';
import { accessWorkspace } from './access.js';
import type { MentionKind } from './mentions.js';
import { checkIdCursor, MESSAGE_COLUMNS, toMessage, withDetails, type Message } from './messages.js';

export const MENTIONS_DEFAULT_LIMIT = 50;
export const MENTIONS_MAX_LIMIT = 200;

export interface MentionItem {
  message: Message;
  chat_id: string;
  workspace_id: string;
  kind: MentionKind;
  /** At or below my read watermark of the chat. */
  read: boolean;
}

export interface MentionQuery {
  workspace_id?: string;
  limit?: number;
  cursor?: string;
}

type FeedDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config'>;

export async function listMyMentions(deps: FeedDeps, userId: string, query: MentionQuery): Promise<{ items: MentionItem[]; next_cursor: string | null }> {
  if (query.workspace_id !== undefined) await accessWorkspace(deps, userId, query.workspace_id);
  checkIdCursor(query.cursor);
  const limit = Math.min(query.limit ?? MENTIONS_DEFAULT_LIMIT, MENTIONS_MAX_LIMIT);
  const q = deps
    .db('mention_recipients as r')
    .join('messages as m', 'm.id', 'r.message_id')
    // Membership now: leaving a chat takes its mentions out of the feed.
    .join('chat_members as cm', (j) => j.on('cm.chat_id', 'r.chat_id').andOn('cm.user_id', 'r.user_id'))
    .where('r.user_id', userId)
    .whereNull('m.deleted_at')
    .select(...MESSAGE_COLUMNS.map((c) => `m.${c}`), 'r.kind', deps.db.raw('r.seq <= cm.last_read_seq as read'))
    .orderBy([
      { column: 'r.created_at', order: 'desc' },
      { column: 'r.message_id', order: 'desc' },
    ])
    .limit(limit + 1);
  if (query.workspace_id !== undefined) q.where('r.workspace_id', query.workspace_id);
  if (query.cursor !== undefined) {
    q.whereRaw('(r.created_at, r.message_id) < (select created_at, message_id from mention_recipients where user_id = ? and message_id = ?)', [
      userId,
      query.cursor,
    ]);
  }
  const rows = await q;
  const page = rows.slice(0, limit);
  const messages = await withDetails(deps.db, page.map(toMessage));
  const items = page.map((row, i) => ({
    message: messages[i],
    chat_id: messages[i].chat_id,
    workspace_id: messages[i].workspace_id,
    kind: row.kind as MentionKind,
    read: Boolean(row.read),
  }));
  return { items, next_cursor: rows.length > limit ? items[items.length - 1].message.id : null };
}
