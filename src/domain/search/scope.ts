// The permission filter of every search, in one place so both engines apply the same rule:
// the chats the caller belongs to, plus the workspace's public chats unless the caller is a
// guest (API.md, "Search"). Archived chats stay readable, like their history.
import type { Db } from '../../infra/db.js';
import type { SearchScope } from './engine.js';

/** A query selecting the ids of the chats `scope.user_id` may read. */
function readableChats(db: Db, scope: SearchScope) {
  const member = db('chat_members').select('chat_id').where({ user_id: scope.user_id, workspace_id: scope.workspace_id });
  if (scope.role === 'guest') return member;
  return member.union(db('chats').select('id as chat_id').where({ workspace_id: scope.workspace_id, type: 'public' }));
}

export async function readableChatIds(db: Db, scope: SearchScope): Promise<string[]> {
  const rows: Array<{ chat_id: string }> = await readableChats(db, scope);
  return rows.map((r) => String(r.chat_id));
}
