// Named fixture users, workspaces and chats written straight to the test database, for tests of
// parts that should not depend on the signup/workspace API. Tokens are real access tokens of a
// real session (a refresh-token row, as a login makes).
import { randomUUID } from 'node:crypto';
import type { Deps } from '../../src/deps.js';
import type { ChatType, Role } from '../../src/domain/access.js';
import { v7 as uuidv7 } from 'uuid';
import { signAccessToken } from '../../src/domain/tokens.js';

export interface FixtureUser {
  id: string;
  email: string;
  display_name: string;
  /** `<name>-<6 random characters>`, lower case: what @mentions of them say. */
  username: string;
  token: string;
  /** The session `token` belongs to (refresh_tokens.family_id). */
  sessionId: string;
}

export async function fixtureUser(deps: Deps, name: string): Promise<FixtureUser> {
  const username = `${name.toLowerCase().replace(/[^a-z0-9]/g, '') || 'user'}-${Math.random().toString(36).slice(2, 8)}`;
  const email = `${username}@example.com`;
  const [row] = await deps.db('users').insert({ email, username, display_name: name, password_hash: 'fixture: no password login' }).returning(['id']);
  const id = String(row.id);
  const sessionId = randomUUID();
  await deps.db('refresh_tokens').insert({ user_id: id, family_id: sessionId, token_hash: randomUUID(), expires_at: new Date(Date.now() + 86_400_000) });
  return { id, email, display_name: name, username, token: signAccessToken(deps.tokens, id, sessionId), sessionId };
}

export async function fixtureWorkspace(deps: Deps, owner: FixtureUser, members: Array<[FixtureUser, Role]> = []): Promise<string> {
  const slug = `ws-${Math.random().toString(36).slice(2, 10)}`;
  const [row] = await deps.db('workspaces').insert({ name: slug, slug, created_by: owner.id }).returning(['id']);
  const id = String(row.id);
  await deps
    .db('workspace_members')
    .insert([{ workspace_id: id, user_id: owner.id, role: 'owner' }, ...members.map(([user, role]) => ({ workspace_id: id, user_id: user.id, role }))]);
  return id;
}

export async function fixtureChat(
  deps: Deps,
  workspaceId: string,
  creator: FixtureUser,
  members: FixtureUser[],
  type: ChatType = 'private',
  name = 'general',
): Promise<string> {
  const [row] = await deps
    .db('chats')
    .insert({ workspace_id: workspaceId, type, name: type === 'public' || type === 'private' ? name : null, created_by: creator.id })
    .returning(['id']);
  const id = String(row.id);
  const all = [creator, ...members.filter((m) => m.id !== creator.id)];
  await deps.db('chat_members').insert(all.map((m) => ({ chat_id: id, user_id: m.id, workspace_id: workspaceId })));
  return id;
}

/** Stores a message as the persist worker would: the next seq of the chat, bumped in one transaction. */
export async function fixtureMessage(
  deps: Deps,
  chatId: string,
  sender: FixtureUser,
  content: string,
  options: { createdAt?: Date; deleted?: boolean } = {},
): Promise<{ id: string; seq: number }> {
  const id = uuidv7();
  return deps.db.transaction(async (trx) => {
    const [chat] = await trx('chats').where({ id: chatId }).increment('last_seq', 1).returning(['last_seq', 'workspace_id']);
    await trx('messages').insert({
      id,
      chat_id: chatId,
      workspace_id: chat.workspace_id,
      seq: chat.last_seq,
      sender_id: sender.id,
      client_id: `c-${id}`,
      content,
      created_at: options.createdAt ?? new Date(),
      deleted_at: options.deleted ? new Date() : null,
    });
    return { id, seq: Number(chat.last_seq) };
  });
}
