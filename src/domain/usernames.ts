// Handles: the unique, lower-case `username` that @mentions name. One namespace for the whole
// server (like Mattermost and Rocket.Chat), so a mention means the same person in every
// workspace and a message never has to be re-parsed when someone joins one.
import type { Knex } from 'knex';

/** 1-32 characters: letters, digits and `_ . -` inside, a letter or digit at both ends. */
export const USERNAME_RE = /^[a-z0-9](?:[a-z0-9_.-]{0,30}[a-z0-9])?$/;
/** Words that mention a whole chat. */
export const RESERVED_USERNAMES = new Set(['channel', 'all', 'here', 'everyone']);

export function usernameProblem(name: string): string | undefined {
  if (!USERNAME_RE.test(name)) return 'must be 1-32 lower-case letters, digits or _ . - (starting and ending with a letter or digit)';
  if (RESERVED_USERNAMES.has(name)) return 'is reserved';
  return undefined;
}

/** The handle an email suggests (its local part without accents, reduced to the allowed characters), or null. */
export function usernameFromEmail(email: string): string | null {
  const base = email
    .split('@')[0]
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, '')
    .slice(0, 24)
    .replace(/^[._-]+|[._-]+$/g, '');
  return base.length >= 2 && usernameProblem(base) === undefined ? base : null;
}

/**
 * A free handle derived from the email: its local part, or that with a random number when
 * taken. null leaves it to the database (`user-<id>`, see the migration): signing up never
 * fails because of a handle nobody chose.
 */
export async function deriveUsername(db: Knex, email: string): Promise<string | null> {
  const base = usernameFromEmail(email);
  if (base === null) return null;
  const candidates = [base, `${base}${Math.floor(1000 + Math.random() * 9000)}`];
  const taken = new Set((await db('users').whereIn('username', candidates).select('username')).map((r) => r.username as string));
  return candidates.find((c) => !taken.has(c)) ?? null;
}

/** Is this error Postgres refusing a second user with the same handle? */
export const isUsernameTaken = (err: unknown): boolean =>
  (err as { code?: string; constraint?: string }).code === '23505' && (err as { constraint?: string }).constraint === 'users_username_key';
