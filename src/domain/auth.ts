// Sign-up, login, refresh-token rotation and logout.
// Access tokens are short-lived JWTs (tokens.ts). Refresh tokens are 32 random bytes, stored only
// as a SHA-256 hash, grouped in a family per login: the session (sessions.ts), whose id every
// access token carries. Each use spends the token and issues the next one of the same family;
// presenting a spent token means it was copied, so the whole family is revoked (OAuth 2.0
// Security BCP, "refresh token rotation"). Revoking a family ends its access tokens too.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Deps } from '../deps.js';
import { ConflictError, UnauthenticatedError } from '../errors.js';
import { burnPasswordCheck, hashPassword, verifyPassword } from './passwords.js';
import { invalidateSessions, type SessionDeps } from './sessions.js';
import { signAccessToken } from './tokens.js';
import { deriveUsername, isUsernameTaken } from './usernames.js';
import { toUser, USER_COLUMNS, type User } from './users.js';

export interface Session {
  user: User;
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

type AuthDeps = Pick<Deps, 'db' | 'tokens' | 'config'>;

export const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');
/** 256 bits of entropy, URL-safe: refresh and invitation tokens. */
export const randomToken = (): string => randomBytes(32).toString('base64url');

const BAD_CREDENTIALS = 'The email or password is not correct.';
const BAD_REFRESH = 'The refresh token is not valid.';

async function issue(deps: AuthDeps, trx: Knex, user: User, familyId: string): Promise<Session> {
  const refreshToken = randomToken();
  await trx('refresh_tokens').insert({
    user_id: user.id,
    family_id: familyId,
    token_hash: sha256(refreshToken),
    expires_at: new Date(Date.now() + deps.config.REFRESH_TOKEN_TTL_SECONDS * 1000),
  });
  return {
    user,
    access_token: signAccessToken(deps.tokens, user.id, familyId),
    refresh_token: refreshToken,
    token_type: 'Bearer',
    expires_in: deps.tokens.expiresInSeconds,
  };
}

/**
 * `email` must already be trimmed and lower-cased (the route schema does it). A chosen `username`
 * that is taken is a 409; without one, a free handle is derived from the email (usernames.ts),
 * and if that loses a race the database's `user-<id>` stands in: a signup never fails for it.
 */
export async function signup(deps: AuthDeps, input: { email: string; password: string; display_name: string; username?: string }): Promise<Session> {
  const passwordHash = await hashPassword(input.password);
  const insert = (username: string | null) =>
    deps.db.transaction(async (trx) => {
      const [row] = await trx('users')
        .insert({ email: input.email, password_hash: passwordHash, display_name: input.display_name, username })
        .returning([...USER_COLUMNS]);
      return issue(deps, trx, toUser(row), randomUUID());
    });
  try {
    try {
      return await insert(input.username ?? (await deriveUsername(deps.db, input.email)));
    } catch (err) {
      if (input.username === undefined && isUsernameTaken(err)) return await insert(null);
      throw err;
    }
  } catch (err) {
    if (isUsernameTaken(err)) throw new ConflictError('This username is taken.');
    if ((err as { code?: string }).code === '23505') throw new ConflictError('This email is already registered.');
    throw err;
  }
}

/**
 * Brute-force protection for an account's password (login and PATCH /me share it): an account,
 * known or not (so the lock reveals nothing), is locked for 15 minutes after
 * RATE_LIMIT_LOGIN_FAILURES attempts without a correct one. The point is spent *before* verifying, so
 * parallel attempts cannot all pass the lock: at most that many guesses are ever checked per
 * window. Throws RateLimitedError (429) when locked; a correct password resets the count.
 */
export async function checkAccountPassword(deps: Pick<Deps, 'limits'>, email: string, passwordHash: string | undefined, password: string): Promise<boolean> {
  const account = email.toLowerCase();
  await deps.limits.consume('login_failures', account);
  const ok = passwordHash !== undefined ? await verifyPassword(passwordHash, password) : await burnPasswordCheck(password).then(() => false);
  if (ok) await deps.limits.reward('login_failures', account);
  return ok;
}

export async function login(deps: AuthDeps & Pick<Deps, 'limits'>, input: { email: string; password: string }): Promise<Session> {
  const row = await deps
    .db('users')
    .whereRaw('lower(email) = ?', [input.email.toLowerCase()])
    .first(...USER_COLUMNS, 'password_hash');
  if (!(await checkAccountPassword(deps, input.email, row?.password_hash, input.password))) throw new UnauthenticatedError(BAD_CREDENTIALS);
  return deps.db.transaction((trx) => issue(deps, trx, toUser(row), randomUUID()));
}

export async function refresh(deps: AuthDeps & SessionDeps, refreshToken: string): Promise<Session> {
  // The revocation of a re-used family must commit even though the request fails, so the
  // transaction returns an outcome and the error is thrown after it.
  const outcome = await deps.db.transaction(async (trx): Promise<Session | { reused: { user_id: string; family_id: string } } | null> => {
    const row = await trx('refresh_tokens')
      .where({ token_hash: sha256(refreshToken) })
      .forUpdate()
      .first();
    if (!row || row.revoked_at || new Date(row.expires_at).getTime() <= Date.now()) return null;
    if (row.spent_at) {
      await trx('refresh_tokens').where({ family_id: row.family_id }).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
      return { reused: row };
    }
    const user = await trx('users')
      .where({ id: row.user_id })
      .first(...USER_COLUMNS);
    if (!user) return null;
    await trx('refresh_tokens').where({ id: row.id }).update({ spent_at: trx.fn.now() });
    return issue(deps, trx, toUser(user), row.family_id);
  });
  if (outcome && 'reused' in outcome) await invalidateSessions(deps, outcome.reused.user_id, [outcome.reused.family_id]);
  if (!outcome || 'reused' in outcome) throw new UnauthenticatedError(BAD_REFRESH);
  return outcome;
}

/** Ends the session the refresh token belongs to. Unknown or foreign tokens change nothing. */
export async function logout(deps: SessionDeps, userId: string, refreshToken: string): Promise<void> {
  const row = await deps
    .db('refresh_tokens')
    .where({ token_hash: sha256(refreshToken), user_id: userId })
    .first('family_id');
  if (!row) return;
  await deps.db('refresh_tokens').where({ family_id: row.family_id }).whereNull('revoked_at').update({ revoked_at: deps.db.fn.now() });
  await invalidateSessions(deps, userId, [row.family_id]);
}

/**
 * Revokes every session of the user but `keep` (the one changing the password); returns the
 * revoked session ids for invalidateSessions, to call after commit. Call inside the transaction
 * that changes the password.
 */
export async function revokeOtherSessions(trx: Knex, userId: string, keep: string): Promise<string[]> {
  const rows: Array<{ family_id: string }> = await trx('refresh_tokens')
    .where({ user_id: userId })
    .whereNot({ family_id: keep })
    .whereNull('revoked_at')
    .update({ revoked_at: trx.fn.now() })
    .returning('family_id');
  return [...new Set(rows.map((r) => r.family_id))];
}
