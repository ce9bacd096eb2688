// Shared pieces of the benchmarks: private services in a temp folder, a closed-loop load
// generator with latency percentiles, and the result rows every benchmark reports.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import Koa from 'koa';
import { loadConfig, type Config } from '../src/config.js';
import { closeDeps, createDeps, type Deps } from '../src/deps.js';
import { createDb } from '../src/infra/db.js';
import { startEmbeddedPostgres, startEmbeddedRedis, type EmbeddedService } from '../src/infra/embedded.js';
import { migrateLatest } from '../src/infra/migrate.js';
import { createLogger } from '../src/observability/logger.js';
import { signAccessToken, type TokenConfig } from '../src/domain/tokens.js';
import { packageRoot } from '../src/version.js';

export interface BenchServices {
  databaseUrl: string;
  redisUrl: string;
  stop(): Promise<void>;
}

/** A private PostgreSQL and redis-server for one benchmark run, migrated, removed afterwards. */
export async function startBenchServices(): Promise<BenchServices> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-bench-'));
  chmodSync(dir, 0o755);
  const services: EmbeddedService[] = [];
  const redis = await startEmbeddedRedis({ dataDir: path.join(dir, 'redis'), persistent: true });
  services.push(redis);
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), database: 'fechatter' });
  services.push(pg);
  const db = createDb(pg.url, 1);
  await migrateLatest(db);
  await db.destroy();
  return {
    databaseUrl: pg.url,
    redisUrl: redis.url,
    async stop() {
      for (const service of services.reverse()) await service.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function benchEnv(services: BenchServices, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    JWT_SECRET: 'bench-secret-that-is-long-enough-for-hs256-0123456789',
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    RATE_LIMIT_AUTH_PER_MINUTE: '100000000',
    RATE_LIMIT_WRITE_PER_MINUTE: '100000000',
    RATE_LIMIT_SEARCH_PER_MINUTE: '100000000',
    RATE_LIMIT_TYPING_PER_MINUTE: '100000000',
    RATE_LIMIT_CONNECT_PER_MINUTE: '100000000',
    RATE_LIMIT_IP_PER_MINUTE: '100000000',
    // Seeding a million messages runs statements longer than the default 10 s.
    DB_STATEMENT_TIMEOUT_MS: '0',
    ...extra,
  };
}

export async function benchDeps(env: Record<string, string>): Promise<{ config: Config; deps: Deps; close(): Promise<void> }> {
  const config = loadConfig(env);
  const deps = await createDeps(config, createLogger('silent'));
  return { config, deps, close: () => closeDeps(deps) };
}

export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  mean_ms: number;
  p50_ms: number;
  p99_ms: number;
  /** CPU time of this whole process (load generator + in-process server) per request, in µs. */
  cpu_us_per_req?: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function summarize(latencies: number[], errors: number, seconds: number): LoadResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    requests: sorted.length,
    errors,
    seconds: round(seconds),
    rps: Math.round(sorted.length / seconds),
    mean_ms: round(sorted.reduce((s, v) => s + v, 0) / (sorted.length || 1)),
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
  };
}

/**
 * Closed-loop load: `concurrency` callers fire back-to-back for `seconds`. With `ratePerSecond`
 * the load is open-loop instead (requests start on a fixed schedule, so a slow server cannot
 * slow the offered load down), which is how "p99 at half of peak" is measured.
 */
export async function load(options: {
  concurrency: number;
  seconds: number;
  ratePerSecond?: number;
  fire: (i: number) => Promise<unknown>;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let issued = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const deadline = started + options.seconds * 1000;
  const one = async () => {
    const i = issued++;
    const t0 = performance.now();
    try {
      await options.fire(i);
      latencies.push(performance.now() - t0);
    } catch {
      errors++;
    }
  };
  if (options.ratePerSecond) {
    const interval = 1000 / options.ratePerSecond;
    const inflight = new Set<Promise<void>>();
    for (let next = started; next < deadline; next += interval) {
      const wait = next - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const p = one().finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
  } else {
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (performance.now() < deadline) await one();
      }),
    );
  }
  const used = process.cpuUsage(cpu);
  return {
    ...summarize(latencies, errors, (performance.now() - started) / 1000),
    cpu_us_per_req: Math.round((used.user + used.system) / Math.max(1, latencies.length)),
  };
}

/** Commands Redis has processed so far (INFO stats), to count Redis commands per request. */
export async function redisCommands(redis: { info(section: string): Promise<string> }): Promise<number> {
  return Number(/total_commands_processed:(\d+)/.exec(await redis.info('stats'))![1]);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

/** A minimal keep-alive HTTP client (fetch adds measurable overhead at these rates). */
export function httpRequest(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method,
        agent,
        headers: body ? { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if ((res.statusCode ?? 0) >= 400) reject(new Error(`${method} ${u.pathname}: ${res.statusCode} ${text.slice(0, 200)}`));
          else resolve({ status: res.statusCode ?? 0, body: text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** One row of a benchmark report: a figure and, where there is one, its same-run baseline. */
export interface BenchRow {
  bench: string;
  case: string;
  result: Partial<LoadResult> & Record<string, number | string>;
  baseline?: { case: string; result: Partial<LoadResult> & Record<string, number | string> };
  /** The target for this figure, and whether this run met it. */
  target?: { text: string; met: boolean };
  note?: string;
}

export function printRows(rows: BenchRow[]): void {
  for (const row of rows) {
    const fmt = (r: Record<string, unknown>) =>
      Object.entries(r)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
    console.log(`${row.bench} / ${row.case}: ${fmt(row.result)}`);
    if (row.baseline) console.log(`  baseline ${row.baseline.case}: ${fmt(row.baseline.result)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Pieces shared by the benchmark modules run by bench/run.ts.

/** What every benchmark module's `run()` receives from the driver. */
export interface BenchOptions {
  quick: boolean;
  services: BenchServices;
  /** Progress lines (the driver prints them to stderr). */
  log(line: string): void;
  /** Extra flags of the driver (`--search-messages`, `--topology`, `--profile`). */
  args: Record<string, string | boolean>;
}

export type BenchModule = { run(options: BenchOptions): Promise<BenchRow[]> };

export const BENCH_SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789';
export const benchTokens = (env: Record<string, string>): TokenConfig => ({
  secret: env.JWT_SECRET ?? BENCH_SECRET,
  issuer: 'fechatter',
  audience: 'fechatter-api',
  expiresInSeconds: 3600,
});

export interface Seeded {
  workspace: string;
  chats: string[];
  users: Array<{ id: string; token: string }>;
}

/** One workspace with `users` members and `chats` private chats everyone belongs to. */
export async function seedWorkspace(db: Knex, tokens: TokenConfig, options: { users: number; chats: number; tag: string }): Promise<Seeded> {
  const tag = `${options.tag}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const rows = await db('users')
    .insert(Array.from({ length: options.users }, (_, i) => ({ email: `${tag}-${i}@bench.test`, display_name: `Bench ${i}`, password_hash: 'bench' })))
    .returning('id');
  const ids = rows.map((u: { id: string }) => String(u.id));
  const [ws] = await db('workspaces').insert({ name: tag, slug: tag, created_by: ids[0] }).returning('id');
  await db('workspace_members').insert(ids.map((id, i) => ({ workspace_id: ws.id, user_id: id, role: i === 0 ? 'owner' : 'member' })));
  const chats: string[] = [];
  for (let c = 0; c < options.chats; c++) {
    const [chat] = await db('chats')
      .insert({ workspace_id: ws.id, type: 'private', name: `${tag}-${c}`, created_by: ids[0] })
      .returning('id');
    chats.push(String(chat.id));
    await db('chat_members').insert(ids.map((id) => ({ chat_id: chat.id, user_id: id, workspace_id: ws.id })));
  }
  const userTokens = await benchSessions(db, tokens, ids);
  return { workspace: String(ws.id), chats, users: ids.map((id, i) => ({ id, token: userTokens[i] })) };
}

/** One session (a refresh-token row, as a login makes) per user, and an access token for it. */
export async function benchSessions(db: Knex, tokens: TokenConfig, userIds: string[]): Promise<string[]> {
  const sessions = userIds.map((id) => ({ user_id: id, family_id: randomUUID(), token_hash: randomUUID(), expires_at: new Date(Date.now() + 86_400_000) }));
  await db('refresh_tokens').insert(sessions);
  return sessions.map((s) => signAccessToken(tokens, s.user_id, s.family_id));
}

/** A bare Koa server running `handler` (the floor an HTTP path is compared with), in this process. */
export async function bareKoa(handler: Koa.Middleware): Promise<{ url: string; close(): Promise<void> }> {
  const app = new Koa();
  app.use(handler);
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const children = new Set<ChildProcess>();
const trackedPids = new Set<number>();
/** Kills every child a benchmark spawned and did not stop (the driver calls it on exit). */
export function killChildren(): void {
  for (const child of children) child.kill('SIGKILL');
  for (const pid of trackedPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Detached processes a benchmark started some other way (a Redis Cluster's nodes), for
 * killChildren() to kill if the benchmark times out before stopping them. Returns the untrack.
 */
export function trackPid(...pids: number[]): () => void {
  for (const pid of pids) trackedPids.add(pid);
  return () => {
    for (const pid of pids) trackedPids.delete(pid);
  };
}

export interface Spawned {
  child: ChildProcess;
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * A child process, ready once its output matches `ready` (group 1 = its URL). Killed after
 * 30 s without becoming ready; `stop()` sends SIGTERM and SIGKILL after 10 s.
 */
export function spawnProcess(args: string[], env: Record<string, string>, ready: RegExp, nodeFlags: string[] = []): Promise<Spawned> {
  const child = spawn(process.execPath, [...nodeFlags, ...args], { cwd: packageRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  void exited.then(() => children.delete(child));
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not start within 30 s:\n${out.slice(-2000)}`));
    }, 30_000);
    const onData = (c: Buffer) => {
      if (out.length < 200_000) out += c.toString();
      const match = done ? null : ready.exec(out);
      if (match) {
        done = true;
        clearTimeout(timer);
        resolve({
          child,
          url: match[1],
          output: () => out,
          async stop() {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.kill('SIGTERM');
            const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
            await exited;
            clearTimeout(t);
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!done) reject(new Error(`${args.join(' ')} exited ${code}:\n${out.slice(-2000)}`));
    });
  });
}

/** A moment as it stands in result and profile file names: 2026-12-04T222417 (UTC, to the second). */
export const fileStamp = (at = new Date()) => at.toISOString().slice(0, 19).replace(/:/g, '');

/**
 * A Fechatter role as its own process (`node --import tsx src/main.ts <role>`). With
 * `cpuProfDir` it runs under `--cpu-prof`; after stop() the main thread's profile is
 * `<cpuProfDir>/<role>-<time>.cpuprofile` (the tsx loader thread's is dropped).
 */
export async function spawnRole(role: 'api' | 'worker' | 'fanout', env: Record<string, string>, options: { cpuProfDir?: string } = {}): Promise<Spawned> {
  const flags = ['--import', 'tsx'];
  const name = `${role}-${fileStamp()}-${Math.random().toString(36).slice(2, 6)}`;
  const dir = options.cpuProfDir ? path.join(options.cpuProfDir, name) : undefined;
  if (dir) flags.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  const spawned = await spawnProcess(['src/main.ts', role], { ...env, LOG_LEVEL: 'info' }, /listening on (http:\/\/[\d.]+:\d+)/, flags);
  if (!dir) return spawned;
  return {
    ...spawned,
    async stop() {
      await spawned.stop();
      const main = readdirSync(dir).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\./.test(f));
      if (main) renameSync(path.join(dir, main), path.join(options.cpuProfDir!, `${name}.cpuprofile`));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Where `--profile` leaves .cpuprofile files (summarised by bench/profile.ts). */
export const profileDir = (options: BenchOptions) => (options.args.profile === true ? path.join(packageRoot, 'bench/results') : undefined);

/**
 * Runs `fn` under this process's V8 CPU profiler when `dir` is set, leaving
 * `<dir>/<name>-<time>.cpuprofile`: one phase of an in-process benchmark, load generator included.
 */
export async function profiled<T>(dir: string | undefined, name: string, fn: () => Promise<T>): Promise<T> {
  if (!dir) return fn();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${name}-${fileStamp()}.cpuprofile`), JSON.stringify(profile));
  }
}

export const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Closes the keep-alive sockets of httpRequest() (between phases, so servers can close). */
export function resetAgent(): void {
  agent.destroy();
}
