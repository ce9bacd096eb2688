// Graceful degradation with real outages: this file runs its own PostgreSQL and redis-server
// (the shared test servers must stay up for other files) and stops and restarts them.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { closeDeps, createDeps } from '../../src/deps.js';
import { createDb } from '../../src/infra/db.js';
import { startEmbeddedPostgres, startEmbeddedRedis, type EmbeddedService } from '../../src/infra/embedded.js';
import { migrateLatest } from '../../src/infra/migrate.js';
import { createLogger } from '../../src/observability/logger.js';
import { startRole, type Running } from '../../src/roles.js';
import { client, eventually, spawnRole, TEST_JWT_SECRET, type RoleProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let dir: string;
let pg: EmbeddedService;
let redis: EmbeddedService;
let pgPort: number;
let redisPort: number;
let env: TestEnv;
let api: Running;
let worker: RoleProcess;
let request: ReturnType<typeof client>;
let ann: FixtureUser;
let chat: string;

async function startPostgres() {
  pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), database: 'fechatter', ephemeral: true, port: pgPort || undefined });
  pgPort = Number(new URL(pg.url).port);
}
async function startRedis() {
  redis = await startEmbeddedRedis({ dataDir: path.join(dir, 'redis'), persistent: true, port: redisPort || undefined });
  redisPort = Number(new URL(redis.url).port);
}

const send = (content: string) => request('POST', `/api/v1/chats/${chat}/messages`, { token: ann.token, body: { content, client_id: uuidv7() } });
const storedContents = async () =>
  (await env.deps.db('messages').where({ chat_id: chat }).orderBy('seq').select('seq', 'content')) as Array<{ seq: string; content: string }>;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-outage-'));
  chmodSync(dir, 0o755);
  await startRedis();
  await startPostgres();
  const migrator = createDb(pg.url, 1);
  await migrateLatest(migrator);
  await migrator.destroy();
  const vars = {
    NODE_ENV: 'test',
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    REDIS_PREFIX: 'outage',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    WORKER_QUEUES: 'persist',
    CACHE_TTL_SECONDS: '600',
  };
  const config = loadConfig(vars);
  const deps = await createDeps(config, createLogger('silent'));
  env = { vars, config, deps, close: () => closeDeps(deps) };
  api = await startRole('api', deps);
  worker = await spawnRole(env, 'worker');
  request = client(api.url);
  ann = await fixtureUser(deps, 'Ann');
  const wid = await fixtureWorkspace(deps, ann);
  chat = await fixtureChat(deps, wid, ann, []);
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await api?.stop();
  await env?.close();
  await pg?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Postgres down', () => {
  it('keeps accepting sends, answers reads 503 quickly, and persists everything in order when it returns', async () => {
    // Warm the membership cache, as any active chat has it.
    expect((await send('before the outage')).status).toBe(202);
    await eventually(async () => (await storedContents()).length === 1);

    await pg.stop();
    const during = [];
    for (let i = 1; i <= 15; i++) during.push(await send(`during ${i}`));
    expect(during.map((r) => r.status)).toEqual(Array(15).fill(202));

    const reads = [];
    for (let i = 0; i < 8; i++) {
      const started = Date.now();
      const res = await request('GET', `/api/v1/chats/${chat}/messages`, { token: ann.token });
      reads.push({ status: res.status, ms: Date.now() - started, code: res.body?.error?.code });
    }
    expect(reads.every((r) => r.status === 503 && r.code === 'unavailable')).toBe(true);
    // Once the breaker has opened, reads fail fast instead of waiting on connection attempts.
    expect(reads.at(-1)!.ms).toBeLessThan(200);
    const ready = await request('GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.postgres.ok).toBe(false);

    await startPostgres();
    const stored = await eventually(
      async () => {
        const rows = await storedContents().catch(() => []);
        return rows.length === 16 ? rows : undefined;
      },
      60_000,
      250,
    );
    expect(stored.map((r) => Number(r.seq))).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(stored.map((r) => r.content)).toEqual(['before the outage', ...Array.from({ length: 15 }, (_, i) => `during ${i + 1}`)]);

    // Reads come back by themselves once the breaker's probe succeeds.
    await eventually(async () => (await request('GET', `/api/v1/chats/${chat}/messages`, { token: ann.token })).status === 200, 20_000, 250);
  }, 120_000);
});

describe('Redis down', () => {
  it('refuses writes with 503 (never a false 202), keeps serving reads, and recovers by itself', async () => {
    const before = (await storedContents()).length;
    await redis.stop();
    const write = await send('while redis is away');
    expect(write.status).toBe(503);
    expect(write.body.error.code).toBe('unavailable');
    const read = await request('GET', `/api/v1/chats/${chat}/messages?limit=5`, { token: ann.token });
    expect(read.status).toBe(200);
    expect(read.body.items.length).toBe(5);
    expect((await request('GET', '/health/ready')).status).toBe(503);

    await startRedis();
    const after = await eventually(
      async () => {
        const res = await send('after redis returned');
        return res.status === 202 ? res : undefined;
      },
      20_000,
      250,
    );
    expect(after.body.status).toBe('accepted');
    const stored = await eventually(
      async () => {
        const rows = await storedContents();
        return rows.length === before + 1 ? rows : undefined;
      },
      30_000,
      250,
    );
    expect(stored.at(-1)!.content).toBe('after redis returned');
    expect(stored.map((r) => r.content)).not.toContain('while redis is away');
  }, 120_000);
});
