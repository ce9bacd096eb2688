// Users as the API shows them, and the /me verbs.
import type { Deps } from '../deps.js';
import type { Role } from './access.js';
import { checkAccountPassword, revokeOtherSessions } from './auth.js';
import { UnauthenticatedError, ValidationError } from './errors.js';
import { hashPassword } from './passwords.js';
import { invalidateSessions, type SessionDeps } from './sessions.js';
import type { AuthUser } from './tokens.js';

/** `user` in API.md: never includes the password hash. */
export interface User {
  id: string;
  email: string;
  display_name: string;
  created_at: string;
}

export const USER_COLUMNS = ['id', 'email', 'display_name', 'created_at'] as const;

export const iso = (value: Date | string | null | undefined): string | null =>
  value == null ? null : new Date(value).toISOString();

export function toUser(row: { id: string | number; email: string; display_name: string; created_at: Date | string }): User {
  return { id: String(row.id), email: row.email, display_name: row.display_name, created_at: iso(row.created_at)! };
}

/** A user row prefixed `u_` in a join (see userColumns), as the API's `user`. */
export function joinedUser(row: Record<string, unknown>): User {
  return toUser({
    id: row.u_id as string,
    email: row.u_email as string,
    display_name: row.u_display_name as string,
    created_at: row.u_created_at as Date,
  });
}

/** Select list for joining `users as u`, read back with joinedUser. */
export const userColumns = ['u.id as u_id', 'u.email as u_email', 'u.display_name as u_display_name', 'u.created_at as u_created_at'];

export async function getUser(deps: Pick<Deps, 'db'>, userId: string): Promise<User> {
  const row = await deps.db('users').where({ id: userId }).first(...USER_COLUMNS);
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
  const rows = await deps.db('workspace_members as wm')
    .join('workspaces as w', 'w.id', 'wm.workspace_id')
    .where('wm.user_id', userId)
    .orderBy('w.id')
    .select('w.id', 'w.name', 'w.slug', 'wm.role');
  return { user, workspaces: rows.map((r) => ({ id: String(r.id), name: r.name, slug: r.slug, role: r.role })) };
}

export interface MeUpdate {
  display_name?: string;
  password?: { current: string; new: string };
}

/**
 * Changing the password signs out every other session of the user (their refresh tokens and
 * access tokens stop working, their sockets close) and keeps the caller's. The current password
 * is checked against the same lock as login (checkAccountPassword): 429 once locked.
 */
export async function updateMe(
  deps: SessionDeps & Pick<Deps, 'limits'>,
  caller: Pick<AuthUser, 'id' | 'sessionId'>,
  update: MeUpdate,
): Promise<User> {
  const userId = caller.id;
  const patch: Record<string, unknown> = {};
  if (update.display_name !== undefined) patch.display_name = update.display_name;
  if (update.password) {
    const row = await deps.db('users').where({ id: userId }).first('email', 'password_hash');
    if (!row) throw new UnauthenticatedError();
    if (!(await checkAccountPassword(deps, row.email, row.password_hash, update.password.current))) {
      throw new ValidationError('The current password is not correct.', [
        { field: 'password.current', code: 'incorrect', message: 'does not match' },
      ]);
    }
    patch.password_hash = await hashPassword(update.password.new);
  }
  if (Object.keys(patch).length === 0) return getUser(deps, userId);
  const { user, revoked } = await deps.db.transaction(async (trx) => {
    const [row] = await trx('users').where({ id: userId }).update({ ...patch, updated_at: trx.fn.now() }).returning([...USER_COLUMNS]);
    if (!row) throw new UnauthenticatedError();
    return { user: toUser(row), revoked: patch.password_hash ? await revokeOtherSessions(trx, userId, caller.sessionId) : [] };
  });
  await invalidateSessions(deps, userId, revoked);
  return user;
}
