// @mentions, resolved once at persist time (message-persist.ts) inside the storing transaction:
//   `@username`                       a member of the chat, by handle (usernames.ts)
//   `@channel`, `@all`, `@everyone`   every member of the chat       -> {type: 'channel'}
//   `@here`                           the members online right now   -> {type: 'here'}
// Text in code spans and code blocks mentions nobody, and neither does the `@` of an e-mail
// address. Handles of people outside the chat are dropped (so a guest outside it hears
// nothing), and so are @channel/@here from senders below admin where the workspace keeps
// those to admins (workspaces.channel_mentions). The result is the message's `mentions` and
// its mention_recipients rows (who was reached, counted above the read watermark).
import type pg from 'pg';
import { roleAtLeast, type Role } from './access.js';

export type Mention = { type: 'user'; user_id: string; username: string } | { type: 'channel' } | { type: 'here' };
export type MentionKind = 'user' | 'channel' | 'here';

export interface MentionTokens {
  /** Handles in order of first appearance, lower-cased. */
  usernames: string[];
  channel: boolean;
  here: boolean;
}

const CODE = /```[\s\S]*?(?:```|$)|`[^`\n]*`/g;
// Not after a word character, `.`, `+` or `-` (e-mail addresses); the longest handle, so that
// `@bob.` mentions bob but `@bob.smith` names bob.smith.
const MENTION = /(?<![\p{L}\p{N}_.+-])@([a-z0-9](?:[a-z0-9_.-]{0,30}[a-z0-9])?)(?![a-z0-9_]|[.-][a-z0-9])/giu;
const CHANNEL_WORDS = new Set(['channel', 'all', 'everyone']);

export function parseMentions(content: string): MentionTokens {
  const tokens: MentionTokens = { usernames: [], channel: false, here: false };
  if (!content.includes('@')) return tokens;
  const seen = new Set<string>();
  for (const match of content.replace(CODE, ' ').matchAll(MENTION)) {
    const name = match[1].toLowerCase();
    if (CHANNEL_WORDS.has(name)) tokens.channel = true;
    else if (name === 'here') tokens.here = true;
    else if (!seen.has(name)) {
      seen.add(name);
      tokens.usernames.push(name);
    }
  }
  return tokens;
}

export interface MentionSource {
  id: string;
  chat_id: string;
  workspace_id: string;
  sender_id: string;
  content: string;
}

export interface ResolvedMentions {
  mentions: Mention[];
  recipients: Array<{ user_id: string; kind: MentionKind }>;
}

/** Who is online among `userIds` (presence.ts); only asked when a message says @here. */
export type OnlineCheck = (userIds: string[]) => Promise<Set<string>>;

/**
 * Resolves the mentions of messages about to be stored, in at most three queries for the whole
 * batch, and none for messages without an `@`. Runs inside the persisting transaction, so the
 * membership it sees is the one the message is stored under.
 */
export async function resolveMentions(conn: pg.ClientBase, messages: MentionSource[], online: OnlineCheck): Promise<Map<string, ResolvedMentions>> {
  const resolved = new Map<string, ResolvedMentions>();
  const parsed = messages
    .map((m) => ({ m, tokens: parseMentions(m.content) }))
    .filter(({ tokens }) => tokens.usernames.length || tokens.channel || tokens.here);
  if (parsed.length === 0) return resolved;

  // Named members, per chat.
  const named = parsed.flatMap(({ m, tokens }) => tokens.usernames.map((u) => [m.chat_id, u] as const));
  const members = new Map<string, { id: string; username: string }>();
  if (named.length) {
    const { rows } = await conn.query<{ chat_id: string; id: string; username: string }>(
      `select distinct t.chat_id::text as chat_id, u.id::text as id, u.username
         from unnest($1::bigint[], $2::text[]) as t(chat_id, username)
         join users u on u.username = t.username
         join chat_members cm on cm.chat_id = t.chat_id and cm.user_id = u.id`,
      [named.map(([c]) => c), named.map(([, u]) => u)],
    );
    for (const r of rows) members.set(`${r.chat_id}:${r.username}`, { id: r.id, username: r.username });
  }

  // Whole-chat mentions: the chats' members, and whether each sender may use them.
  const wide = parsed.filter(({ tokens }) => tokens.channel || tokens.here);
  const chatMembers = new Map<string, string[]>();
  const allowed = new Set<string>();
  if (wide.length) {
    const { rows } = await conn.query<{ chat_id: string; user_ids: string[] }>(
      'select chat_id::text as chat_id, array_agg(user_id::text) as user_ids from chat_members where chat_id = any($1::bigint[]) group by chat_id',
      [[...new Set(wide.map(({ m }) => m.chat_id))]],
    );
    for (const r of rows) chatMembers.set(r.chat_id, r.user_ids);
    const { rows: policy } = await conn.query<{ i: string; channel_mentions: 'everyone' | 'admins'; role: Role | null }>(
      `select t.i, w.channel_mentions, wm.role
         from unnest($1::bigint[], $2::bigint[]) with ordinality as t(workspace_id, sender_id, i)
         join workspaces w on w.id = t.workspace_id
         left join workspace_members wm on wm.workspace_id = t.workspace_id and wm.user_id = t.sender_id`,
      [wide.map(({ m }) => m.workspace_id), wide.map(({ m }) => m.sender_id)],
    );
    for (const p of policy) {
      if (p.channel_mentions === 'everyone' || (p.role !== null && roleAtLeast(p.role, 'admin'))) allowed.add(wide[Number(p.i) - 1].m.id);
    }
  }
  const hereChats = wide.filter(({ m, tokens }) => tokens.here && !tokens.channel && allowed.has(m.id)).map(({ m }) => m.chat_id);
  const onlineNow = hereChats.length ? await online([...new Set(hereChats.flatMap((c) => chatMembers.get(c) ?? []))]) : new Set<string>();

  for (const { m, tokens } of parsed) {
    const mentions: Mention[] = [];
    const reached = new Map<string, MentionKind>();
    for (const name of tokens.usernames) {
      const user = members.get(`${m.chat_id}:${name}`);
      if (!user) continue;
      mentions.push({ type: 'user', user_id: user.id, username: user.username });
      reached.set(user.id, 'user');
    }
    if (allowed.has(m.id)) {
      const everyone = chatMembers.get(m.chat_id) ?? [];
      if (tokens.channel) mentions.push({ type: 'channel' });
      if (tokens.here) mentions.push({ type: 'here' });
      const kind: MentionKind = tokens.channel ? 'channel' : 'here';
      for (const id of everyone) if (!reached.has(id) && (tokens.channel || onlineNow.has(id))) reached.set(id, kind);
    }
    // Mentioning yourself reaches nobody.
    reached.delete(m.sender_id);
    if (mentions.length) resolved.set(m.id, { mentions, recipients: [...reached].map(([user_id, kind]) => ({ user_id, kind })) });
  }
  return resolved;
}
