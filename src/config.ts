// Environment -> typed, validated configuration. One clear message per bad value.
// Every variable here is documented in .env.example and the README's configuration table.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';
import { clusterUrl, parseClusterNodes, redisTarget } from './infra/redis.js';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(min).max(max);
const url = (protocols: string[]) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `must be a ${protocols.join(' or ')}// URL`,
  );
/** A key as web-push prints it: URL-safe base64 of exactly `bytes` bytes. */
const base64urlBytes = (bytes: number) =>
  z
    .string()
    .refine(
      (v) => /^[A-Za-z0-9_-]+=*$/.test(v) && Buffer.from(v, 'base64url').length === bytes,
      `must be ${bytes} bytes of URL-safe base64 (npx web-push generate-vapid-keys)`,
    );
/** redis:// or rediss:// (one server), or redis+cluster://host:port,host:port (a cluster's seed nodes). */
const redisUrl = z.string().refine((v) => {
  try {
    return redisTarget(v).cluster ? true : ['redis:', 'rediss:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}, 'must be a redis: or rediss:// URL (or redis+cluster://host:port,host:port)');
const clusterNodes = z.string().transform((v, ctx) => {
  try {
    const nodes = parseClusterNodes(v);
    if (nodes.length) return nodes;
    ctx.addIssue({ code: 'custom', message: 'must list at least one host:port' });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `must be host:port,host:port (${(err as Error).message})` });
  }
  return z.NEVER;
});
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
/** Off, a number of proxy hops, or the proxies' addresses/CIDRs (proxy-addr's syntax and names). */
const trustProxy = z.string().transform((v, ctx): false | number | string[] => {
  if (v === 'false' || v === '0') return false;
  if (/^\d+$/.test(v)) return Number(v);
  const addresses = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  try {
    proxyaddr.compile(addresses);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `must be false, a hop count or proxy addresses/CIDRs (${(err as Error).message})` });
    return z.NEVER;
  }
  return addresses;
});

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(8080),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  DB_POOL_MAX: int(1, 500).default(10),
  DB_STATEMENT_TIMEOUT_MS: int(0, 3_600_000).default(10_000),
  DATABASE_REPLICA_URLS: list.pipe(z.array(url(['postgres:', 'postgresql:']))).default([]),
  REPLICA_MAX_LAG_MS: int(100, 3_600_000).default(5000),
  REDIS_URL: redisUrl.optional(),
  REDIS_CLUSTER_NODES: clusterNodes.optional(),
  REDIS_WAIT_REPLICAS: int(0, 16).default(0),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
    .default('fechatter'),
  DATA_DIR: z.string().min(1).default('.data'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_ISSUER: z.string().min(1).default('fechatter'),
  JWT_AUDIENCE: z.string().min(1).default('fechatter-api'),
  TOKEN_EXPIRY_SECONDS: int(30, 86400).default(900),
  REFRESH_TOKEN_TTL_SECONDS: int(60).default(30 * 86400),
  MEILISEARCH_URL: url(['http:', 'https:']).optional(),
  MEILISEARCH_KEY: z.string().optional(),
  ENABLE_CIRCUIT_BREAKER: bool.default(true),
  CONNECTION_LIMIT: int(1, 10000).default(10),
  CACHE_TTL_SECONDS: int(0, 86400).default(60),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WORKER_QUEUES: list
    .pipe(z.array(z.enum(['persist', 'receipts', 'search', 'notifications', 'webhooks', 'unfurl'])))
    .default(['persist', 'receipts', 'search', 'notifications', 'webhooks', 'unfurl']),
  WORKER_CONCURRENCY: int(1, 1000).default(64),
  PERSIST_BATCH_SIZE: int(1, 1000).default(500),
  EVENT_STREAM_MAXLEN: int(100).default(100_000),
  EVENT_STREAM_MAX_AGE_SECONDS: int(60).default(86400),
  /** Event stream shards (by workspace); every process of a deployment must agree. */
  EVENT_STREAM_SHARDS: int(1, 256).default(1),
  WS_MAX_PAYLOAD_BYTES: int(256, 1 << 20).default(16 * 1024),
  SEND_BUFFER_BYTES: int(1024).default(1 << 20),
  WS_FRAME_RATE_PER_SECOND: int(1, 10_000).default(20),
  HEARTBEAT_SECONDS: int(1, 300).default(25),
  PRESENCE_LEASE_SECONDS: int(2, 3600).default(30),
  BODY_LIMIT_BYTES: int(1024, 10 << 20).default(64 * 1024),
  REQUEST_TIMEOUT_MS: int(100).default(15_000),
  SHUTDOWN_TIMEOUT_MS: int(100).default(10_000),
  ADMIN_USER: z.string().min(1).optional(),
  ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  ADMIN_QUEUES_WRITABLE: bool.default(false),
  METRICS_TOKEN: z.string().min(1).optional(),
  CORS_ORIGINS: list.default([]),
  TRUST_PROXY: trustProxy.default(false),
  RATE_LIMIT_AUTH_PER_MINUTE: int(1).default(30),
  RATE_LIMIT_LOGIN_FAILURES: int(1).default(10),
  RATE_LIMIT_WRITE_PER_MINUTE: int(1).default(1200),
  RATE_LIMIT_TYPING_PER_MINUTE: int(1).default(120),
  RATE_LIMIT_CONNECT_PER_MINUTE: int(1).default(60),
  RATE_LIMIT_SEARCH_PER_MINUTE: int(1).default(300),
  RATE_LIMIT_IP_PER_MINUTE: int(1).default(6000),
  NOTIFY_DELAY_SECONDS: int(0, 86400).default(60),
  EMAIL_DIGEST_SECONDS: int(0, 86400).default(120),
  SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  EMAIL_FROM: z.string().min(3).default('Fechatter <no-reply@localhost>'),
  PUBLIC_URL: url(['http:', 'https:']).default('http://localhost:8080'),
  VAPID_PUBLIC_KEY: base64urlBytes(65).optional(),
  VAPID_PRIVATE_KEY: base64urlBytes(32).optional(),
  VAPID_SUBJECT: url(['mailto:', 'https:']).default('mailto:admin@localhost'),
  OUTBOUND_ALLOW_PRIVATE_ADDRESSES: bool.default(false),
  UPLOAD_MAX_BYTES: int(1024, 5 * 2 ** 30).default(25 * 2 ** 20),
  UPLOAD_TIMEOUT_MS: int(1000).default(600_000),
  WORKSPACE_STORAGE_QUOTA_BYTES: int(0).default(10 * 2 ** 30),
  STORAGE_DRIVER: z.enum(['local', 's3']).default('local'),
  S3_BUCKET: z.string().min(1).optional(),
  S3_REGION: z.string().min(1).optional(),
  S3_ENDPOINT: url(['http:', 'https:']).optional(),
  S3_FORCE_PATH_STYLE: bool.default(false),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
});

type Env = z.infer<typeof schema>;
export type Config = Omit<Env, 'JWT_SECRET'> & { JWT_SECRET: string };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses the environment. Empty strings count as unset, so `FOO=` in .env means "default". */
export function parseEnv(env: NodeJS.ProcessEnv = process.env): Env {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  if ((result.data.ADMIN_USER === undefined) !== (result.data.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError(['ADMIN_USER and ADMIN_PASSWORD: set both or neither']);
  }
  if ((result.data.VAPID_PUBLIC_KEY === undefined) !== (result.data.VAPID_PRIVATE_KEY === undefined)) {
    throw new ConfigError(['VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY: set both or neither']);
  }
  if (result.data.REDIS_CLUSTER_NODES) {
    if (result.data.REDIS_URL) throw new ConfigError(['REDIS_URL and REDIS_CLUSTER_NODES: set one or the other']);
    // One string names the target everywhere (createRedis, child processes): the cluster URL.
    return { ...result.data, REDIS_URL: clusterUrl(result.data.REDIS_CLUSTER_NODES) };
  }
  return result.data;
}

/**
 * Full configuration. Production requires JWT_SECRET; elsewhere a random secret is generated
 * once and kept in DATA_DIR so tokens survive restarts (with a warning, since it is per-machine).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, warn: (msg: string) => void = console.warn): Config {
  const parsed = parseEnv(env);
  if (parsed.JWT_SECRET) return { ...parsed, JWT_SECRET: parsed.JWT_SECRET };
  if (parsed.NODE_ENV === 'production') {
    throw new ConfigError(['JWT_SECRET: required when NODE_ENV=production (at least 32 random characters)']);
  }
  const file = path.resolve(parsed.DATA_DIR, 'jwt-secret');
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(48).toString('base64url'), { mode: 0o600 });
    warn(`JWT_SECRET is not set: generated one in ${file}. Set JWT_SECRET in production.`);
  }
  return { ...parsed, JWT_SECRET: readFileSync(file, 'utf8').trim() };
}
