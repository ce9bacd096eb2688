// What a connection may receive: the chats and workspaces of its user (with the user's role in
// each workspace), loaded once at connect and then kept current by the chat.* and workspace.*
// membership events the connection processes (see connection.ts). Only the fanout uses this
// shape, so it lives here and not in access.ts.
import type { Role } from '../domain/access.js';
import type { Db } from '../infra/db.js';

export interface Membership {
  /** chat id -> workspace id, for every chat the user belongs to. */
  chats: Map<string, string>;
  /** Workspace id -> the user's role there, for every workspace the user belongs to (presence and workspace.* events are workspace-scoped). */
  workspaces: Map<string, Role>;
}

export async function loadMembership(db: Db, userId: string): Promise<Membership> {
  const [chatRows, workspaceRows] = await Promise.all([
    db('chat_members').where({ user_id: userId }).select('chat_id', 'workspace_id'),
    db('workspace_members').where({ user_id: userId }).select('workspace_id', 'role'),
  ]);
  return {
    chats: new Map(chatRows.map((r: { chat_id: string | number; workspace_id: string | number }) => [String(r.chat_id), String(r.workspace_id)])),
    workspaces: new Map(workspaceRows.map((r: { workspace_id: string | number; role: Role }) => [String(r.workspace_id), r.role])),
  };
}
