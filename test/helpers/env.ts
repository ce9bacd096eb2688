// Per-test-file isolation: a fresh database cloned from the migrated template, a fresh Redis key
// prefix (so queues, streams and caches are private), and helpers to run roles in-process or as
// real child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { loadConfig, type Config } from '../../src/config.js';
import { closeDeps, createDeps, type Deps } from '../../src/deps.js';
import { compareEventIds, parseStreamEntry, type EventEnvelope } from '../../src/infra/events.js';
import { createRedis, redisMasters, redisReady } from '../../src/infra/redis.js';
import { createLogger } from '../../src/observability/logger.js';
import { startRole, type Role, type Running } from '../../src/roles.js';
import { packageRoot } from '../../src/version.js';
import { TEMPLATE_DB, withDatabase } from './global-setup.js';
import { replicaCaughtUp } from './replica.js';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface TestEnv {
  /** Environment variables that point a process at this test's database, Redis prefix and secret. */
  vars: Record<string, string>;
  config: Config;
  deps: Deps;
  close(): Promise<void>;
}

function serviceUrls() {
  const database = process.env.TEST_DATABASE_URL;
  const redis = process.env.TEST_REDIS_URL;
  if (!database || !redis) throw new Error('integration tests need the global setup (run them with `npm test`)');
  return { database, redis };
}

export async function createTestEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const urls = serviceUrls();
  const suffix = randomBytes(5).toString('hex');
  const database = `t_${suffix}`;
  const admin = knexFactory({ client: 'pg', connection: urls.database, pool: { min: 0, max: 1 } });
  await admin.raw(`create database ${database} template ${TEMPLATE_DB}`);
  await admin.destroy();
  // TEST_PG_REPLICA=1: history and search read the database on the run's streaming replica
  // (unless the test brings its own Postgres), once the replica has it. Its commits wait until
  // the replica has applied them: tests write rows straight into the primary and read them back
  // through the API at once, which no replica lag guard promises (the product's own writes are
  // marked for read-your-writes; lag itself is test/integration/replicas.test.ts's subject).
  const replica = process.env.TEST_DATABASE_REPLICA_URL;
  const readReplica = replica && !overrides.DATABASE_URL && overrides.DATABASE_REPLICA_URLS === undefined ? withDatabase(replica, database) : undefined;
  if (readReplica) {
    const primary = knexFactory({ client: 'pg', connection: urls.database, pool: { min: 0, max: 1 } });
    await primary.raw(`alter database ${database} set synchronous_commit = 'remote_apply'`);
    await primary.destroy();
    await replicaCaughtUp(urls.database, replica!);
  }

  const vars: Record<string, string> = {
    NODE_ENV: 'test',
    DATABASE_URL: withDatabase(urls.database, database),
    REDIS_URL: urls.redis,
    REDIS_PREFIX: `t${suffix}`,
    JWT_SECRET: TEST_JWT_SECRET,
    // Files, generated keys: private to this environment, removed with it.
    DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'fechatter-test-')),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    DB_POOL_MAX: '5',
    // Tests sign up many users from one IP; the rate-limit tests set their own low limits.
    RATE_LIMIT_AUTH_PER_MINUTE: '100000',
    RATE_LIMIT_WRITE_PER_MINUTE: '100000',
    RATE_LIMIT_SEARCH_PER_MINUTE: '100000',
    RATE_LIMIT_TYPING_PER_MINUTE: '100000',
    RATE_LIMIT_CONNECT_PER_MINUTE: '100000',
    RATE_LIMIT_IP_PER_MINUTE: '1000000',
    ...(readReplica ? { DATABASE_REPLICA_URLS: readReplica } : {}),
    // TEST_EVENT_STREAM_SHARDS=4: the whole suite on sharded event streams.
    ...(process.env.TEST_EVENT_STREAM_SHARDS ? { EVENT_STREAM_SHARDS: process.env.TEST_EVENT_STREAM_SHARDS } : {}),
    ...overrides,
  };
  const config = loadConfig(vars);
  const deps = await createDeps(config, createLogger(config.LOG_LEVEL, { test: true }));
  return {
    vars,
    config,
    deps,
    async close() {
      await closeDeps(deps);
      // SCAN sees one server: on a cluster, every master in turn, deleting key by key (slots differ).
      // The Redis this environment used: the run's, or a test's own (REDIS_URL override).
      const redis = createRedis(vars.REDIS_URL, 'blocking', 'fechatter:test-cleanup');
      await redisReady(redis);
      for (const node of redisMasters(redis)) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${vars.REDIS_PREFIX}:*`, 'COUNT', 1000);
          if (keys.length) await (redis.isCluster ? Promise.all(keys.map((k) => node.del(k))) : node.del(...keys));
          cursor = next;
        } while (cursor !== '0');
      }
      redis.disconnect();
      const cleanup = knexFactory({ client: 'pg', connection: urls.database, pool: { min: 0, max: 1 } });
      await cleanup.raw(`drop database if exists ${database} with (force)`);
      await cleanup.destroy();
      await rm(vars.DATA_DIR, { recursive: true, force: true });
    },
  };
}

/** Runs a role inside the test process, sharing the test's deps. */
export async function startInProcess(env: TestEnv, role: Exclude<Role, 'migrate'>): Promise<Running> {
  return startRole(role, env.deps);
}

export interface RoleProcess {
  url: string;
  child: ChildProcess;
  output: () => string;
  /** Graceful stop (SIGTERM), resolving with the exit code. */
  stop(): Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Every spawned role still running: killed when the test process exits, so none outlives a failed start or a crash. */
const spawned = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of spawned) child.kill('SIGKILL');
});

/** Spawns a real `fechatter <role>` process against the test's database and Redis prefix. */
export async function spawnRole(env: TestEnv, role: Exclude<Role, 'migrate'>, extra: Record<string, string> = {}): Promise<RoleProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'src/main.ts'), role], {
    cwd: packageRoot,
    env: { ...process.env, ...env.vars, LOG_LEVEL: 'info', ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.add(child);
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => spawned.delete(child));
  const url = await new Promise<string>((resolve, reject) => {
    // Generous: tsx compiles the whole app at start, slow when several processes start at once on a busy machine.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${role} did not start:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    url,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}

export interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small HTTP client for API tests: JSON in, JSON out, bearer token optional. */
export function client(baseUrl: string) {
  return async function request<T = any>(
    method: string,
    path: string,
    options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Answer<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined = options.raw;
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(options.body);
    } else if (body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(baseUrl + path, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed as T, headers: response.headers };
  };
}

/** Polls until `check` returns a truthy value (or throws after `timeoutMs`). */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
}

/** The id of the newest event on each of the test's stream shards ('0-0' when empty): a mark to read after. */
export async function streamMark(env: TestEnv): Promise<string[]> {
  return Promise.all(env.deps.stream.shards.map(async (s) => (await env.deps.redis.xrevrange(s.key, '+', '-', 'COUNT', 1))[0]?.[0] ?? '0-0'));
}

/** Every event published after `mark` (by default: all), in order per shard; shards merged by id. */
export async function streamEventsAfter(env: TestEnv, mark?: string[]): Promise<EventEnvelope[]> {
  const shards = await Promise.all(
    env.deps.stream.shards.map(async (s, k) =>
      (await env.deps.redis.xrange(s.key, `(${mark?.[k] ?? '0-0'}`, '+'))
        .map(([id, fields]) => parseStreamEntry(id, fields))
        .filter((e): e is EventEnvelope => e !== null),
    ),
  );
  return shards.flat().sort((a, b) => compareEventIds(a.id, b.id));
}
