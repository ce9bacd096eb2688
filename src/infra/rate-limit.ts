// Rate limits shared by every process through Redis (rate-limiter-flexible). While Redis is
// unreachable an in-memory limiter per process takes over, so limits degrade instead of failing.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config.js';
import { RateLimitedError } from '../errors.js';
import type { Redis } from './redis.js';
import { metrics } from '../observability/metrics.js';

export type LimitName = 'auth' | 'write' | 'typing' | 'search' | 'ip' | 'login_failures' | 'connect';

export interface Limits {
  /** Spends one point of `name` for `key`; throws RateLimitedError (429) when none are left. */
  consume(name: LimitName, key: string): Promise<void>;
  /** Forgets `key`'s count (a correct password resets the login lock). */
  reward(name: LimitName, key: string): Promise<void>;
}

export function createLimits(redis: Redis, prefix: string, config: Config): Limits {
  const spec: Record<LimitName, { points: number; duration: number; blockDuration?: number }> = {
    auth: { points: config.RATE_LIMIT_AUTH_PER_MINUTE, duration: 60 },
    // Password attempts on one account (login and PATCH /me), spent before verifying so parallel
    // attempts cannot pass the lock; a success resets it. Locked for 15 minutes.
    login_failures: { points: config.RATE_LIMIT_LOGIN_FAILURES, duration: 15 * 60, blockDuration: 15 * 60 },
    write: { points: config.RATE_LIMIT_WRITE_PER_MINUTE, duration: 60 },
    typing: { points: config.RATE_LIMIT_TYPING_PER_MINUTE, duration: 60 },
    search: { points: config.RATE_LIMIT_SEARCH_PER_MINUTE, duration: 60 },
    ip: { points: config.RATE_LIMIT_IP_PER_MINUTE, duration: 60 },
    // WebSocket/SSE connection attempts per user: each one may cost a membership load and a replay.
    connect: { points: config.RATE_LIMIT_CONNECT_PER_MINUTE, duration: 60 },
  };
  const limiters = Object.fromEntries(
    Object.entries(spec).map(([name, s]) => [
      name,
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: `${prefix}:${name}`,
        ...s,
        insuranceLimiter: new RateLimiterMemory({ ...s, keyPrefix: `${prefix}:${name}` }),
      }),
    ]),
  ) as Record<LimitName, RateLimiterRedis>;

  const reject = (name: LimitName, res: RateLimiterRes): never => {
    metrics.rateLimited.inc({ limit: name });
    throw new RateLimitedError(Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
  };

  // Large limits (the per-IP one runs on every request) take their points from Redis in leases
  // of up to 20, used locally for at most a second, instead of one Redis round trip per request.
  // The count stays shared by every process; a client may be refused up to one lease per process
  // early. Limits under 400 per window stay exact (a lease of 1), and so does the login lock.
  const leaseSize = Object.fromEntries(
    Object.entries(spec).map(([name, s]) => [name, name === 'login_failures' ? 1 : Math.min(20, Math.max(1, Math.floor(s.points / 200)))]),
  ) as Record<LimitName, number>;
  const leases = new Map<string, { left: number; until: number }>();
  // One lease fetch per key at a time: the requests that find the lease spent while it is being
  // renewed wait for it, instead of each fetching (and wasting) a lease of its own.
  const renewing = new Map<string, Promise<unknown>>();
  const take = async (name: LimitName, key: string, points: number) => {
    try {
      return await limiters[name].consume(key, points);
    } catch (err) {
      if (err instanceof RateLimiterRes) reject(name, err);
      throw err;
    }
  };
  const renew = async (name: LimitName, key: string, leaseKey: string) => {
    const size = leaseSize[name];
    const res = await take(name, key, size);
    if (leases.size >= 10_000) leases.clear();
    leases.set(leaseKey, { left: size - 1, until: Date.now() + Math.min(1000, res.msBeforeNext) });
  };

  return {
    async consume(name, key) {
      if (leaseSize[name] === 1) {
        await take(name, key, 1);
        return;
      }
      const leaseKey = `${name}:${key}`;
      for (;;) {
        const lease = leases.get(leaseKey);
        if (lease && lease.left > 0 && Date.now() < lease.until) {
          lease.left--;
          return;
        }
        const pending = renewing.get(leaseKey);
        if (!pending) break;
        // Whatever became of that fetch (a 429 is its requester's), look at the lease again.
        await pending.catch(() => {});
      }
      const renewal = renew(name, key, leaseKey);
      renewing.set(leaseKey, renewal);
      try {
        await renewal;
      } finally {
        renewing.delete(leaseKey);
      }
    },
    async reward(name, key) {
      await limiters[name].delete(key).catch(() => {});
    },
  };
}
