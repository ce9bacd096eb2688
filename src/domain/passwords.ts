// Password hashing with argon2id (OWASP's first choice; @node-rs/argon2 defaults: m=19 MiB, t=2).
import { hash, verify, type Algorithm } from '@node-rs/argon2';

// `Algorithm` is a `const enum` in the typings but an empty object at runtime, so esbuild/tsx
// cannot inline it: use the documented value (Argon2id = 2) directly.
const ARGON2ID = 2 as Algorithm;

export function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: ARGON2ID });
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    // Not an argon2 hash (e.g. fixture users): never matches.
    return false;
  }
}

let dummy: Promise<string> | undefined;
/**
 * Verifies against a throw-away hash, so a login for an unknown email costs the same time as a
 * wrong password and response timing does not reveal which emails are registered.
 */
export async function burnPasswordCheck(password: string): Promise<void> {
  dummy ??= hashPassword('dummy password that never matches');
  await verifyPassword(await dummy, password);
}
