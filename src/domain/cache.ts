// Read-through cache in Redis for look-ups that every change invalidates explicitly (sessions.ts).
// Redis errors fall back to the loaders: the cache is an optimisation, so a Redis outage costs
// queries, not answers.
import type { Redis } from '../infra/redis.js';

export interface CacheDeps {
  redis: Redis;
  config: { CACHE_TTL_SECONDS: number };
}

/**
 * MGET on one server; on a cluster, where cache keys spread over slots (a multi-slot MGET is a
 * CROSSSLOT error), one GET per key, sent together (ioredis pipelines them per node).
 */
function getMany(redis: Redis, keys: string[]): Promise<Array<string | null>> {
  return redis.isCluster ? Promise.all(keys.map((key) => redis.get(key))) : redis.mget(keys);
}

/** DEL of several keys: per key on a cluster, for the same reason. */
async function delMany(redis: Redis, keys: string[]): Promise<void> {
  if (redis.isCluster) await Promise.all(keys.map((key) => redis.del(key)));
  else await redis.del(...keys);
}

/**
 * Many keys in one round trip (MGET). `loadMisses` gets the indexes of the misses and returns
 * their values in that order, so a caller can fill them with one query.
 */
export async function cachedBatch<T>(deps: CacheDeps, keys: string[], loadMisses: (misses: number[]) => Promise<T[]>): Promise<T[]> {
  const ttl = deps.config.CACHE_TTL_SECONDS;
  const none = () => keys.map(() => null);
  const hits: Array<string | null> = ttl > 0 && keys.length > 0 ? await getMany(deps.redis, keys).catch(none) : none();
  const values = new Array<T>(keys.length);
  const misses: number[] = [];
  hits.forEach((hit, i) => {
    if (hit === null || hit === undefined) misses.push(i);
    else values[i] = JSON.parse(hit) as T;
  });
  if (misses.length === 0) return values;
  const loaded = await loadMisses(misses);
  await Promise.all(
    misses.map(async (i, j) => {
      values[i] = loaded[j];
      if (ttl > 0) await deps.redis.set(keys[i], JSON.stringify(loaded[j] ?? null), 'EX', ttl).catch(() => {});
    }),
  );
  return values;
}

/**
 * Drops cache entries after a committed change, and once more a moment later: a read that
 * loaded the old row just before the commit may write it back after the first delete
 * (the classic read-through race); the second delete bounds that to REFILL_RACE_MS.
 */
const REFILL_RACE_MS = 500;
export async function dropCached(deps: CacheDeps, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  await delMany(deps.redis, keys).catch(() => {});
  setTimeout(() => void delMany(deps.redis, keys).catch(() => {}), REFILL_RACE_MS).unref();
}
