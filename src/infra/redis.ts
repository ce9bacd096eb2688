// ioredis connections and the names of every Redis key Fechatter uses, under REDIS_PREFIX so
// several deployments (or test files) can share one Redis server or cluster.
// A `redis+cluster://host:port,host:port` URL (or REDIS_CLUSTER_NODES) makes every connection an
// ioredis Cluster; then the keys a script, MULTI or pipeline uses together carry one {hash tag}
// so they share a slot (ARCHITECTURE.md, "Redis Cluster").
import { Cluster, Redis as SingleRedis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A single server or a cluster: both speak the same commands (multi-key ones must stay in one slot). */
export type Redis = SingleRedis | Cluster;

export type RedisRole =
  /** Request paths: fail fast while Redis is away, so the API answers 503 instead of hanging. */
  | 'command'
  /** Workers and stream readers: blocking commands, retried for ever. */
  | 'blocking';

export const CLUSTER_PROTOCOL = 'redis+cluster:';

export interface RedisTarget {
  /** The seed nodes of a cluster, or undefined for a single server at `url`. */
  cluster?: Array<{ host: string; port: number }>;
  url: string;
}

/** `host:port` pairs, comma-separated, as REDIS_CLUSTER_NODES and redis+cluster:// URLs list them. */
export function parseClusterNodes(list: string): Array<{ host: string; port: number }> {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((node) => {
      const match = /^(\[[^\]]+\]|[^:/\s]+):(\d{1,5})$/.exec(node);
      if (!match || Number(match[2]) > 65535) throw new Error(`not a host:port: ${node}`);
      return { host: match[1].replace(/^\[|\]$/g, ''), port: Number(match[2]) };
    });
}

/** What a REDIS_URL names: `redis+cluster://[user:password@]host:port,host:port` is a cluster. */
export function redisTarget(url: string): RedisTarget {
  if (!url.startsWith(`${CLUSTER_PROTOCOL}//`)) return { url };
  const rest = url.slice(CLUSTER_PROTOCOL.length + 2).replace(/\/.*$/, '');
  const at = rest.lastIndexOf('@');
  return { url, cluster: parseClusterNodes(at >= 0 ? rest.slice(at + 1) : rest) };
}

/** The URL config resolves REDIS_CLUSTER_NODES to, so one string names the target everywhere. */
export function clusterUrl(nodes: Array<{ host: string; port: number }>): string {
  return `${CLUSTER_PROTOCOL}//${nodes.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',')}`;
}

function credentials(url: string): Pick<RedisOptions, 'username' | 'password'> {
  const rest = url.slice(CLUSTER_PROTOCOL.length + 2).replace(/\/.*$/, '');
  const at = rest.lastIndexOf('@');
  if (at < 0) return {};
  const [user, password] = rest.slice(0, at).split(':');
  return password === undefined
    ? { password: decodeURIComponent(user) }
    : { username: decodeURIComponent(user) || undefined, password: decodeURIComponent(password) };
}

export function createRedis(url: string, role: RedisRole, name = 'fechatter'): Redis {
  const options: RedisOptions = {
    connectionName: name,
    lazyConnect: false,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    ...(role === 'command'
      ? { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000, commandTimeout: 5000 }
      : { maxRetriesPerRequest: null, enableOfflineQueue: true }),
  };
  const target = redisTarget(url);
  let redis: Redis;
  if (target.cluster) {
    const { enableOfflineQueue, ...nodeOptions } = options;
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...nodeOptions, ...credentials(url) },
      enableOfflineQueue,
      clusterRetryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
      // A failover moves slots: commands wait for the new owner rather than fail at once.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
    };
    redis = new Cluster(target.cluster, clusterOptions);
  } else {
    redis = new SingleRedis(url, options);
  }
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

/** Every master of a cluster, or the one server: what SCAN-like maintenance must visit. */
export function redisMasters(redis: Redis): SingleRedis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}

export interface RedisKeyOptions {
  /**
   * Redis Cluster: put a {hash tag} into the keys that are used together, so each script, MULTI
   * and pipeline stays in one slot. Off, the names are those of a single server (unchanged
   * since before cluster support, so an existing deployment keeps its stream and queues).
   */
  cluster?: boolean;
}

export function redisKeys(prefix: string, options: RedisKeyOptions = {}) {
  // `tag('events')` is `events` on one server and `{events}` on a cluster: the part of a key
  // that decides its slot. One tag per group of keys used together (the brace-less rest of the
  // key does not count), so e.g. the stream and every membership log share a slot.
  const tag = (group: string) => (options.cluster ? `{${group}}` : group);
  const presence = options.cluster ? `${prefix}:{presence}` : `${prefix}:presence`;
  return {
    /**
     * BullMQ's own prefix: queues live under `<prefix>:bull:<queue>:*` (`<prefix>:{bull}:…` on a
     * cluster, as BullMQ requires, so each queue's scripts see one slot).
     */
    bull: `${prefix}:${tag('bull')}`,
    /**
     * The event stream read by every fanout process. Its companions (published outbox ids,
     * announced marks, membership logs: src/infra/events.ts) append to this name and so share its tag.
     */
    events: `${prefix}:${tag('events')}`,
    /**
     * Shard k of the event stream when there are several (EVENT_STREAM_SHARDS > 1), each with its
     * own tag so shards spread over a cluster's nodes. One shard is `events` itself.
     */
    eventShard: (k: number) => `${prefix}:${tag(`events.${k}`)}`,
    /** Single-key entries: spread over the cluster, read with per-key GETs there (cache.ts). */
    cache: (name: string) => `${prefix}:cache:${name}`,
    typing: (chatId: string, userId: string) => `${prefix}:typing:${chatId}:${userId}`,
    /** A user's leases and the `users` index: one slot, since the presence scripts use both. */
    presence: (userId: string) => `${presence}:${userId}`,
    rateLimit: `${prefix}:rl`,
    /** `fechatter reindex` progress: the last message id indexed, so an interrupted run resumes. */
    reindexCursor: (scope: string) => `${prefix}:reindex:${scope}`,
    /** The primary position a user's last write reached (read-your-writes on replicas, replicas.ts). */
    wrote: (userId: string) => `${prefix}:wrote:${userId}`,
    /** The "a digest is scheduled" flag of a user (notifications/notify.ts). */
    digestFlag: (userId: string) => `${prefix}:notify:digest:${userId}`,
  };
}
export type RedisKeys = ReturnType<typeof redisKeys>;
