// Shared pieces of the benchmarks: private services in a temp folder, a closed-loop load
// generator with latency percentiles, and the result rows every benchmark reports.
import http from 'node:http';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../src/config.js';
import { closeDeps, createDeps, type Deps } from '../src/deps.js';
import { createDb } from '../src/infra/db.js';
import { startEmbeddedPostgres, startEmbeddedRedis, type EmbeddedService } from '../src/infra/embedded.js';
import { migrateLatest } from '../src/infra/migrate.js';
import { createLogger } from '../src/observability/logger.js';

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
    RATE_LIMIT_IP_PER_MINUTE: '100000000',
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
export async function load(options: { concurrency: number; seconds: number; ratePerSecond?: number; fire: (i: number) => Promise<unknown> }): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let issued = 0;
  const started = performance.now();
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
  return summarize(latencies, errors, (performance.now() - started) / 1000);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

/** A minimal keep-alive HTTP client (fetch adds measurable overhead at these rates). */
export function httpRequest(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, agent, headers: body ? { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if ((res.statusCode ?? 0) >= 400) reject(new Error(`${method} ${u.pathname}: ${res.statusCode} ${text.slice(0, 200)}`));
        else resolve({ status: res.statusCode ?? 0, body: text });
      });
    });
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
}

export function printRows(rows: BenchRow[]): void {
  for (const row of rows) {
    const fmt = (r: Record<string, unknown>) => Object.entries(r).map(([k, v]) => `${k}=${v}`).join(' ');
    console.log(`${row.bench} / ${row.case}: ${fmt(row.result)}`);
    if (row.baseline) console.log(`  baseline ${row.baseline.case}: ${fmt(row.baseline.result)}`);
  }
}
