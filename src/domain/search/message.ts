// Message rows for search. The API's message object and its mapping belong to
// src/domain/messages.ts; search only adds the look-up by a page of ids.
import type { Db } from '../../infra/db.js';
import { MESSAGE_COLUMNS, type MessageRow } from '../messages.js';

export { toMessage, type Message, type MessageRow } from '../messages.js';

/** Rows by id (any order), including deleted ones so callers can tell "gone" from "live". */
export async function messagesByIds(db: Db, ids: string[]): Promise<MessageRow[]> {
  if (ids.length === 0) return [];
  return db('messages')
    .select(...MESSAGE_COLUMNS)
    .whereIn('id', ids);
}
