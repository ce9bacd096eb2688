// The dependencies every role shares: config, logger, Postgres, Redis, queues, the event stream.
// Domain functions take what they need from here as arguments; nothing reaches for globals.
import type { Config } from './config.js';
import { createDb, pingDb, type Db } from './infra/db.js';
import { eventStreams, type EventStreams } from './infra/events.js';
import { closeQueues, createQueues, QUEUE_NAMES, type Queues } from './infra/queues.js';
import { createRedis, redisKeys, redisReady, type Redis, type RedisKeys } from './infra/redis.js';
import type { TokenConfig } from './domain/tokens.js';
import { createLimits, type Limits } from './infra/rate-limit.js';
import { isDependencyDown } from './infra/failures.js';
import { createBreaker, type Breaker } from './infra/breaker.js';
import { createBlobStore, type BlobStore } from './infra/storage/index.js';
import { createReadRouter, type ReadRouter } from './infra/replicas.js';
import type { Check } from './observability/health.js';
import type { Logger } from './observability/logger.js';

export interface Deps {
  config: Config;
  log: Logger;
  db: Db;
  /** Where history pages and search read: a caught-up replica (DATABASE_REPLICA_URLS) or `db`. */
  reads: ReadRouter;
  /** Fail-fast connection for request paths and publishing. */
  redis: Redis;
  keys: RedisKeys;
  stream: EventStreams;
  queues: Queues;
  tokens: TokenConfig;
  /** Redis-backed rate limits shared by all processes. */
  limits: Limits;
  /** Fast-fails API reads (503) while Postgres keeps failing. */
  readBreaker: Breaker;
  /** Where attachments' bytes live (local disk under DATA_DIR, or S3). */
  files: BlobStore;
}

export async function createDeps(config: Config, log: Logger): Promise<Deps> {
  if (!config.DATABASE_URL || !config.REDIS_URL) throw new Error('DATABASE_URL and REDIS_URL must be resolved first');
  const db = createDb(config.DATABASE_URL, config.DB_POOL_MAX, log, config.DB_STATEMENT_TIMEOUT_MS);
  const redis = createRedis(config.REDIS_URL, 'command', `fechatter:${process.pid}`);
  await redisReady(redis);
  const keys = redisKeys(config.REDIS_PREFIX, { cluster: redis.isCluster });
  const reads = createReadRouter({
    primary: db,
    replicaUrls: config.DATABASE_REPLICA_URLS,
    poolMax: config.DB_POOL_MAX,
    statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
    maxLagMs: config.REPLICA_MAX_LAG_MS,
    log,
    redis,
    markKey: keys.wrote,
  });
  return {
    config,
    log,
    db,
    reads,
    redis,
    keys,
    stream: eventStreams(keys, { shards: config.EVENT_STREAM_SHARDS, maxLen: config.EVENT_STREAM_MAXLEN, maxAgeSeconds: config.EVENT_STREAM_MAX_AGE_SECONDS }),
    queues: createQueues(redis, keys.bull, { waitReplicas: config.REDIS_WAIT_REPLICAS }),
    limits: createLimits(redis, keys.rateLimit, config),
    files: createBlobStore(config),
    readBreaker: createBreaker('postgres_reads', {
      enabled: config.ENABLE_CIRCUIT_BREAKER,
      isFailure: (err) => isDependencyDown(err, redis) === 'postgres',
      // Postgres is the timer for reads: it cancels a slow statement at DB_STATEMENT_TIMEOUT_MS
      // (57014, a failure above), so nothing keeps running on the server after the caller
      // gave up. The breaker's own timeout, a little later, only fires when Postgres cannot
      // answer at all (a partition), whose statements the server still cancels by itself.
      timeoutMs: (config.DB_STATEMENT_TIMEOUT_MS || 10_000) + 1000,
    }),
    tokens: {
      secret: config.JWT_SECRET,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      expiresInSeconds: config.TOKEN_EXPIRY_SECONDS,
    },
  };
}

export async function closeDeps(deps: Deps): Promise<void> {
  await closeQueues(deps.queues).catch(() => {});
  deps.redis.disconnect();
  await deps.reads.close();
  await deps.db.destroy();
}

/** The readiness checks of a role that talks to Postgres, Redis and the queues. */
export function coreChecks(deps: Deps): Check[] {
  return [
    { name: 'postgres', required: true, run: async () => (await pingDb(deps.db), { breaker: deps.readBreaker.state() }) },
    { name: 'redis', required: true, run: async () => void (await deps.redis.ping()) },
    {
      name: 'queues',
      required: false,
      run: async () => {
        const counts = await Promise.all(QUEUE_NAMES.map((name) => deps.queues[name].getJobCounts('waiting', 'active', 'failed', 'delayed')));
        return Object.fromEntries(QUEUE_NAMES.map((name, i) => [name, counts[i]]));
      },
    },
    ...(deps.reads.enabled ? [deps.reads.check()] : []),
  ];
}
