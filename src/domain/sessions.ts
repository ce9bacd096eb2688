// Sessions: one per login, named by its refresh-token family (refresh_tokens.family_id) and
// carried by every access token it issues (the `sid` claim). A session is active while its
// family has a token that is not revoked; logout, a password change and refresh-token reuse
// revoke families (auth.ts, users.ts), so an access token dies with its session, not only at
// `exp`. Checked on every authenticated request and WebSocket/SSE handshake, and every
// couple of seconds for live sockets (src/realtime/sessions.ts). See ARCHITECTURE.md, "Sessions".
//
// Look-ups go through two caches: this process's memory for LOCAL_TTL_MS (so a hot client costs
// no I/O), then Redis (CACHE_TTL_SECONDS, dropped on revocation, so it still answers while
// Postgres is down), then Postgres (the source of truth, used while Redis is down).
import type { Db } from '../infra/db.js';
import type { RedisKeys } from '../infra/redis.js';
import { cachedBatch, dropCached, type CacheDeps } from './cache.js';
import { UnauthenticatedError } from '../errors.js';
import { verifyAccessToken, type AuthUser, type TokenConfig } from './tokens.js';

export interface SessionDeps extends CacheDeps {
  db: Db;
  keys: RedisKeys;
}

export interface SessionRef {
  userId: string;
  sessionId: string;
}

/** How stale another process's answer may be after a revocation. */
const LOCAL_TTL_MS = 2000;
const LOCAL_MAX = 10_000;

interface LocalCache {
  entries: Map<string, { active: boolean; until: number }>;
  /** Bumped by every invalidation: a look-up that started before one must not store its answer. */
  epoch: number;
}
/** Per database, like access.ts's chat -> workspace map: two apps in one process stay apart. */
const locals = new WeakMap<Db, LocalCache>();
function localCache(db: Db): LocalCache {
  let local = locals.get(db);
  if (!local) locals.set(db, (local = { entries: new Map(), epoch: 0 }));
  return local;
}

const localKey = (s: SessionRef) => `${s.userId}:${s.sessionId}`;
const redisKey = (deps: SessionDeps, s: SessionRef) => deps.keys.cache(`session:${s.userId}:${s.sessionId}`);

/** Redis, then one Postgres query for the misses; the answers in the order of `sessions`. */
async function lookUp(deps: SessionDeps, sessions: SessionRef[]): Promise<boolean[]> {
  return cachedBatch(
    deps,
    sessions.map((s) => redisKey(deps, s)),
    async (misses) => {
      const wanted = misses.map((i) => sessions[i]);
      const rows: Array<{ family_id: string; user_id: string }> = await deps
        .db('refresh_tokens')
        .whereRaw('family_id = any(?::uuid[])', [wanted.map((s) => s.sessionId)])
        .whereNull('revoked_at')
        .distinct('family_id', 'user_id');
      const active = new Set(rows.map((r) => `${r.user_id}:${r.family_id}`));
      return wanted.map((s) => active.has(localKey(s)));
    },
  );
}

export async function sessionActive(deps: SessionDeps, userId: string, sessionId: string): Promise<boolean> {
  const ref = { userId, sessionId };
  const local = localCache(deps.db);
  const key = localKey(ref);
  const now = Date.now();
  const hit = local.entries.get(key);
  if (hit && now < hit.until) return hit.active;
  const epoch = local.epoch;
  const [active] = await lookUp(deps, [ref]);
  if (local.epoch === epoch) {
    if (local.entries.size >= LOCAL_MAX) local.entries.clear();
    local.entries.set(key, { active, until: now + LOCAL_TTL_MS });
  }
  return active;
}

/** The bearer token's user, if the token is valid and its session active; 401 otherwise. */
export async function authenticate(deps: SessionDeps & { tokens: TokenConfig }, token: string): Promise<AuthUser> {
  const user = verifyAccessToken(deps.tokens, token);
  if (!(await sessionActive(deps, user.id, user.sessionId))) throw new UnauthenticatedError('The session has ended.');
  return user;
}

/**
 * The sessions among `sessions` that have ended, in one round trip to Redis and at most one
 * query. Skips this process's memory: the fanout's sweep is itself the periodic re-check.
 */
export async function endedSessions(deps: SessionDeps, sessions: SessionRef[]): Promise<Set<string>> {
  const active = await lookUp(deps, sessions);
  return new Set(sessions.filter((_, i) => !active[i]).map((s) => s.sessionId));
}

/** Call after revoking sessions (committed): this process refuses them at once, others within LOCAL_TTL_MS. */
export async function invalidateSessions(deps: SessionDeps, userId: string, sessionIds: string[]): Promise<void> {
  if (sessionIds.length === 0) return;
  const local = localCache(deps.db);
  local.epoch += 1;
  for (const sessionId of sessionIds) local.entries.delete(localKey({ userId, sessionId }));
  await dropCached(
    deps,
    sessionIds.map((sessionId) => redisKey(deps, { userId, sessionId })),
  );
}
