// Pins (per chat, shared by its members) and saved messages (per user, private). Each change is
// a write with its event recorded in the same transaction (outbox.ts); doing it twice changes
// nothing and announces nothing. Lists read back through withDetails like every message read.
import type { Deps } from '../deps.js';
import { accessChat } from './access.js';
import { ValidationError } from '../errors.js';
import { accessStoredMessage, checkIdCursor, MESSAGE_COLUMNS, toMessage, withDetails, type Message } from './messages.js';
import { publishOutbox, recordEvents } from './outbox.js';
import { iso } from './users.js';

export const MAX_PINS_PER_CHAT = 100;
export const SAVED_DEFAULT_LIMIT = 50;
export const SAVED_MAX_LIMIT = 200;

type PinDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config' | 'stream' | 'log'>;

export interface Pin {
  message: Message;
  pinned_by: string;
  pinned_at: string;
}

/** Members of the chat pin and unpin (like Slack); a chat holds at most MAX_PINS_PER_CHAT. */
export async function pinMessage(deps: PinDeps, userId: string, messageId: string): Promise<Pin> {
  const { message } = await accessStoredMessage(deps, userId, messageId, 'member');
  const { pin, recorded } = await deps.db.transaction(async (trx) => {
    // The chat row lock serialises pins of one chat, so the limit holds.
    await trx('chats').where({ id: message.chat_id }).forUpdate().first('id');
    let row = await trx('chat_pins').where({ chat_id: message.chat_id, message_id: messageId }).first('pinned_by', 'pinned_at');
    const fresh = !row;
    if (!row) {
      const [{ n }] = await trx('chat_pins').where({ chat_id: message.chat_id }).count({ n: '*' });
      if (Number(n) >= MAX_PINS_PER_CHAT)
        throw new ValidationError(`A chat holds at most ${MAX_PINS_PER_CHAT} pins.`, [
          { field: 'message_id', code: 'too_many_pins', message: 'unpin one first' },
        ]);
      [row] = await trx('chat_pins').insert({ chat_id: message.chat_id, message_id: messageId, pinned_by: userId }).returning(['pinned_by', 'pinned_at']);
    }
    const [full] = await withDetails(trx, [toMessage(await trx('messages').where({ id: messageId }).first(MESSAGE_COLUMNS))]);
    const pin: Pin = { message: full, pinned_by: String(row.pinned_by), pinned_at: iso(row.pinned_at)! };
    const event = { type: 'message.pinned' as const, workspace_id: message.workspace_id, chat_id: message.chat_id, data: { message_id: messageId, ...pin } };
    return { pin, recorded: fresh ? await recordEvents(trx, [event]) : [] };
  });
  await publishOutbox(deps, recorded);
  return pin;
}

export async function unpinMessage(deps: PinDeps, userId: string, messageId: string): Promise<void> {
  const { message } = await accessStoredMessage(deps, userId, messageId, 'member');
  const recorded = await deps.db.transaction(async (trx) => {
    const removed = await trx('chat_pins').where({ chat_id: message.chat_id, message_id: messageId }).del();
    return removed
      ? recordEvents(trx, [{ type: 'message.unpinned', workspace_id: message.workspace_id, chat_id: message.chat_id, data: { message_id: messageId } }])
      : [];
  });
  await publishOutbox(deps, recorded);
}

/** The chat's pins, newest first (at most MAX_PINS_PER_CHAT, so one page). Deleted messages drop out. */
export async function listPins(deps: PinDeps, userId: string, chatId: string): Promise<Pin[]> {
  await accessChat(deps, userId, chatId, 'read');
  const rows = await deps
    .db('chat_pins as p')
    .join('messages as m', 'm.id', 'p.message_id')
    .where('p.chat_id', chatId)
    .whereNull('m.deleted_at')
    .orderBy('p.pinned_at', 'desc')
    .orderBy('p.message_id', 'desc')
    .select(...MESSAGE_COLUMNS.map((c) => `m.${c}`), 'p.pinned_by', 'p.pinned_at');
  const messages = await withDetails(deps.db, rows.map(toMessage));
  return rows.map((r, i) => ({ message: messages[i], pinned_by: String(r.pinned_by), pinned_at: iso(r.pinned_at)! }));
}

export interface Saved {
  message: Message;
  saved_at: string;
}

/** Anyone who can read the message saves it for later; private to them (user-scoped events). */
export async function setSaved(deps: PinDeps, userId: string, messageId: string, on: boolean): Promise<Saved | null> {
  const { message } = await accessStoredMessage(deps, userId, messageId, 'read');
  const { saved, recorded } = await deps.db.transaction(async (trx) => {
    const scope = { workspace_id: message.workspace_id, chat_id: message.chat_id, user_id: userId };
    if (!on) {
      const removed = await trx('saved_messages').where({ user_id: userId, message_id: messageId }).del();
      return { saved: null, recorded: removed ? await recordEvents(trx, [{ type: 'message.unsaved', ...scope, data: { message_id: messageId } }]) : [] };
    }
    const [inserted] = await trx('saved_messages')
      .insert({ user_id: userId, message_id: messageId })
      .onConflict(['user_id', 'message_id'])
      .ignore()
      .returning('saved_at');
    const savedAt = inserted?.saved_at ?? (await trx('saved_messages').where({ user_id: userId, message_id: messageId }).first('saved_at')).saved_at;
    const [full] = await withDetails(trx, [toMessage(await trx('messages').where({ id: messageId }).first(MESSAGE_COLUMNS))]);
    const saved = { message: full, saved_at: iso(savedAt)! };
    return { saved, recorded: inserted ? await recordEvents(trx, [{ type: 'message.saved', ...scope, data: { message_id: messageId, ...saved } }]) : [] };
  });
  await publishOutbox(deps, recorded);
  return saved;
}

/**
 * My saved messages, newest first, in chats I can still read (cursor: the last item's
 * message id; ties on saved_at are broken by message id).
 */
export async function listSaved(
  deps: PinDeps,
  userId: string,
  page: { limit?: number; cursor?: string },
): Promise<{ items: Saved[]; next_cursor: string | null }> {
  const limit = Math.min(page.limit ?? SAVED_DEFAULT_LIMIT, SAVED_MAX_LIMIT);
  checkIdCursor(page.cursor);
  const q = deps
    .db('saved_messages as s')
    .join('messages as m', 'm.id', 's.message_id')
    .join('chats as c', 'c.id', 'm.chat_id')
    .join('workspace_members as wm', (j) => j.on('wm.workspace_id', 'm.workspace_id').andOn('wm.user_id', 's.user_id'))
    .where('s.user_id', userId)
    .whereNull('m.deleted_at')
    // Readable now: a member of the chat, or a non-guest in a public one (access.ts's rule).
    .where((w) =>
      w
        .whereExists((e) => e.select(deps.db.raw('1')).from('chat_members as cm').whereRaw('cm.chat_id = m.chat_id and cm.user_id = s.user_id'))
        .orWhere((p) => p.where('c.type', 'public').whereNot('wm.role', 'guest')),
    )
    .orderBy([
      { column: 's.saved_at', order: 'desc' },
      { column: 's.message_id', order: 'desc' },
    ])
    .limit(limit + 1)
    .select(...MESSAGE_COLUMNS.map((c) => `m.${c}`), 's.saved_at');
  if (page.cursor !== undefined) {
    q.whereRaw('(s.saved_at, s.message_id) < (select saved_at, message_id from saved_messages where user_id = ? and message_id = ?)', [userId, page.cursor]);
  }
  const rows = await q;
  const pageRows = rows.slice(0, limit);
  const messages = await withDetails(deps.db, pageRows.map(toMessage));
  const items = pageRows.map((r, i) => ({ message: messages[i], saved_at: iso(r.saved_at)! }));
  return { items, next_cursor: rows.length > limit ? items[items.length - 1].message.id : null };
}
