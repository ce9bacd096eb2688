// Users as the API shows them, and the /me verbs.
import type { Knex } from 'knex';
import type { Deps } from '../deps.js';
import type { ChatEvent } from '../infra/events.js';
import type { Role } from './access.js';
import { checkAccountPassword, revokeOtherSessions } from './auth.js';
import { ConflictError, UnauthenticatedError, ValidationError } from '../errors.js';
import { publishOutbox, recordEvents } from './outbox.js';
import { hashPassword } from './passwords.js';
import { isUsernameTaken } from './usernames.js';
import { invalidateSessions, type SessionDeps } from './sessions.js';
import type { AuthUser } from './tokens.js';

/** A custom status; it disappears by itself at expires_at. */
export interface UserStatus {
  emoji: string | null;
  text: string | null;
  expires_at: string | null;
}

/** `user` in API.md: never includes the password hash. */
export interface User {
  id: string;
  email: string;
  display_name: string;
  /** The unique handle @mentions name (usernames.ts). */
  username: string;
  /** null when unset or expired. */
  status: UserStatus | null;
  /** Do not disturb until then: notifications wait (null when off or past). */
  dnd_until: string | null;
  created_at: string;
}

export const USER_COLUMNS = ['id', 'email', 'display_name', 'username', 'status_emoji', 'status_text', 'status_expires_at', 'dnd_until', 'created_at'] as const;

export interface UserRow {
  id: string | number;
  email: string;
  display_name: string;
  username: string;
  status_emoji: string | null;
  status_text: string | null;
  status_expires_at: Date | string | null;
  dnd_until: Date | string | null;
  created_at: Date | string;
}

export const iso = (value: Date | string | null | undefined): string | null => (value == null ? null : new Date(value).toISOString());

/** A time still ahead, as ISO; null if unset or past (expiry is applied at read time, no sweeper). */
const ahead = (value: Date | string | null, now: number): string | null => (value !== null && new Date(value).getTime() > now ? iso(value) : null);

export function toUser(row: UserRow, now = Date.now()): User {
  const statusLive = (row.status_emoji !== null || row.status_text !== null) && (row.status_expires_at === null || ahead(row.status_expires_at, now) !== null);
  return {
    id: String(row.id),
    email: row.email,
    display_name: row.display_name,
    username: row.username,
    status: statusLive ? { emoji: row.status_emoji, text: row.status_text, expires_at: iso(row.status_expires_at) } : null,
    dnd_until: ahead(row.dnd_until, now),
    created_at: iso(row.created_at)!,
  };
}

/** A user row prefixed `u_` in a join (see userColumns), as the API's `user`. */
export function joinedUser(row: Record<string, unknown>): User {
  return toUser(Object.fromEntries(USER_COLUMNS.map((c) => [c, row[`u_${c}`]])) as unknown as UserRow);
}

/** Select list for joining `users as u`, read back with joinedUser. */
export const userColumns = USER_COLUMNS.map((c) => `u.${c} as u_${c}`);

export async function getUser(deps: Pick<Deps, 'db'>, userId: string): Promise<User> {
  const row = await deps
    .db('users')
    .where({ id: userId })
    .first(...USER_COLUMNS);
  // A valid token for a user that no longer exists authenticates nobody.
  if (!row) throw new UnauthenticatedError();
  return toUser(row);
}

export interface MyWorkspace {
  id: string;
  name: string;
  slug: string;
  role: Role;
}

export async function getMe(deps: Pick<Deps, 'db'>, userId: string): Promise<{ user: User; workspaces: MyWorkspace[] }> {
  const user = await getUser(deps, userId);
  const rows = await deps
    .db('workspace_members as wm')
    .join('workspaces as w', 'w.id', 'wm.workspace_id')
    .where('wm.user_id', userId)
    .orderBy('w.id')
    .select('w.id', 'w.name', 'w.slug', 'wm.role');
  return { user, workspaces: rows.map((r) => ({ id: String(r.id), name: r.name, slug: r.slug, role: r.role })) };
}

export interface MeUpdate {
  display_name?: string;
  /** Must pass usernameProblem (the route checks it); 409 when someone has it. */
  username?: string;
  /** null clears it; a missing field of a given status clears that field. */
  status?: { emoji?: string | null; text?: string | null; expires_at?: string | null } | null;
  dnd_until?: string | null;
  password?: { current: string; new: string };
}

/** `user.updated` in every workspace of the user: their profile as members now see it. */
async function profileEvents(trx: Knex, user: User): Promise<ChatEvent[]> {
  const rows = await trx('workspace_members').where({ user_id: user.id }).select('workspace_id');
  return rows.map((r) => ({ type: 'user.updated' as const, workspace_id: String(r.workspace_id), chat_id: null, data: { user_id: user.id, user } }));
}

/**
 * Changing the password signs out every other session of the user (their refresh tokens and
 * access tokens stop working, their sockets close) and keeps the caller's. The current password
 * is checked against the same lock as login (checkAccountPassword): 429 once locked. A change
 * others can see (name, handle, status, do-not-disturb) records `user.updated` in the same
 * transaction (outbox.ts).
 */
export async function updateMe(
  deps: SessionDeps & Pick<Deps, 'limits' | 'stream' | 'log'>,
  caller: Pick<AuthUser, 'id' | 'sessionId'>,
  update: MeUpdate,
): Promise<User> {
  const userId = caller.id;
  const patch: Record<string, unknown> = {};
  if (update.display_name !== undefined) patch.display_name = update.display_name;
  if (update.username !== undefined) patch.username = update.username;
  if (update.status !== undefined) {
    patch.status_emoji = update.status?.emoji ?? null;
    patch.status_text = update.status?.text ?? null;
    patch.status_expires_at = update.status?.expires_at ?? null;
  }
  if (update.dnd_until !== undefined) patch.dnd_until = update.dnd_until;
  const visible = Object.keys(patch).length > 0;
  if (update.password) {
    const row = await deps.db('users').where({ id: userId }).first('email', 'password_hash');
    if (!row) throw new UnauthenticatedError();
    if (!(await checkAccountPassword(deps, row.email, row.password_hash, update.password.current))) {
      throw new ValidationError('The current password is not correct.', [{ field: 'password.current', code: 'incorrect', message: 'does not match' }]);
    }
    patch.password_hash = await hashPassword(update.password.new);
  }
  if (Object.keys(patch).length === 0) return getUser(deps, userId);
  const { user, revoked, recorded } = await deps.db
    .transaction(async (trx) => {
      const [row] = await trx('users')
        .where({ id: userId })
        .update({ ...patch, updated_at: trx.fn.now() })
        .returning([...USER_COLUMNS]);
      if (!row) throw new UnauthenticatedError();
      const user = toUser(row);
      return {
        user,
        revoked: patch.password_hash ? await revokeOtherSessions(trx, userId, caller.sessionId) : [],
        recorded: visible ? await recordEvents(trx, await profileEvents(trx, user)) : [],
      };
    })
    .catch((err) => {
      if (isUsernameTaken(err)) throw new ConflictError('This username is taken.');
      throw err;
    });
  await invalidateSessions(deps, userId, revoked);
  await publishOutbox(deps, recorded);
  return user;
}
