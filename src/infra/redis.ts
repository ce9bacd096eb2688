// ioredis connections and the names of every Redis key Fechatter uses, under REDIS_PREFIX so
// several deployments (or test files) can share one Redis server.
import { Redis, type RedisOptions } from 'ioredis';

export type { Redis };

export type RedisRole =
  /** Request paths: fail fast while Redis is away, so the API answers 503 instead of hanging. */
  | 'command'
  /** Workers and stream readers: blocking commands, retried for ever. */
  | 'blocking';

export function createRedis(url: string, role: RedisRole, name = 'fechatter'): Redis {
  const options: RedisOptions = {
    connectionName: name,
    lazyConnect: false,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    ...(role === 'command'
      ? { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 5000 }
      : { maxRetriesPerRequest: null, enableOfflineQueue: true }),
  };
  const redis = new Redis(url, options);
  // Errors are reported by health checks and callers; an unhandled 'error' event would crash us.
  redis.on('error', () => {});
  return redis;
}

/** Resolves once the connection is ready (used at start-up, before serving). */
export async function redisReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Redis did not become ready in time')), timeoutMs);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function redisKeys(prefix: string) {
  return {
    /** BullMQ's own prefix: queues live under `<prefix>:bull:<queue>:*`. */
    bull: `${prefix}:bull`,
    /** The event stream read by every fanout process. */
    events: `${prefix}:events`,
    /** client_id -> message id, so a retried send gets the same id. */
    idempotency: (chatId: string, clientId: string) => `${prefix}:idem:${chatId}:${clientId}`,
    /** A message accepted but maybe not yet persisted: lets edits/deletes be queued behind it. */
    pendingMessage: (messageId: string) => `${prefix}:pending:${messageId}`,
    cache: (name: string) => `${prefix}:cache:${name}`,
    typing: (chatId: string, userId: string) => `${prefix}:typing:${chatId}:${userId}`,
    presence: (userId: string) => `${prefix}:presence:${userId}`,
    rateLimit: `${prefix}:rl`,
    /** `fechatter reindex` progress: the last message id indexed, so an interrupted run resumes. */
    reindexCursor: (scope: string) => `${prefix}:reindex:${scope}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
