// What a connection may receive: the chats and workspaces of its user, loaded once at connect
// and then kept current by the chat.created / chat.member_* events the connection processes
// (see connection.ts). Only the fanout uses this shape, so it lives here and not in access.ts.
import type { Db } from '../infra/db.js';

export interface Membership {
  /** chat id -> workspace id, for every chat the user belongs to. */
  chats: Map<string, string>;
  /** Workspaces the user belongs to (presence events are workspace-scoped). */
  workspaces: Set<string>;
}

export async function loadMembership(db: Db, userId: string): Promise<Membership> {
  const [chatRows, workspaceRows] = await Promise.all([
    db('chat_members').where({ user_id: userId }).select('chat_id', 'workspace_id'),
    db('workspace_members').where({ user_id: userId }).select('workspace_id'),
  ]);
  return {
    chats: new Map(chatRows.map((r: { chat_id: string | number; workspace_id: string | number }) => [String(r.chat_id), String(r.workspace_id)])),
    workspaces: new Set(workspaceRows.map((r: { workspace_id: string | number }) => String(r.workspace_id))),
  };
}
