// Benchmark of the message write path (not a test): `tsx bench/send.ts` (npm run bench:send).
// Starts its own PostgreSQL and redis-server in a temp folder, then measures, in one run:
//   1. 202 throughput and latency of POST /chats/:cid/messages at fixed concurrency, next to a
//      bare Koa endpoint that parses the same JSON (the floor of HTTP + JSON in this process);
//   2. persisted throughput (accepted -> stored) of the persist worker draining those jobs, next
//      to a plain loop of single-row INSERTs into the messages table.
// Bounded to ~30 s. Env: BENCH_SECONDS (per HTTP phase, default 5), BENCH_CONCURRENCY (32).
import http from 'node:http';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Koa from 'koa';
import getRawBody from 'raw-body';
import { v7 as uuidv7 } from 'uuid';
import { loadConfig } from '../src/config.js';
import { closeDeps, createDeps, type Deps } from '../src/deps.js';
import { acceptMessage } from '../src/domain/messages.js';
import { signAccessToken } from '../src/domain/tokens.js';
import { startEmbeddedPostgres, startEmbeddedRedis, type EmbeddedService } from '../src/infra/embedded.js';
import { migrateLatest } from '../src/infra/migrate.js';
import { createDb } from '../src/infra/db.js';
import { createLogger } from '../src/observability/logger.js';
import { metrics } from '../src/observability/metrics.js';
import { startRole } from '../src/roles.js';
import { startWorkers } from '../workers/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const CHATS = 8;
const USERS = 8;
const INSERT_ROWS = 1000;
const DRAIN_JOBS = 4000;

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function post(url: URL, body: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** CONCURRENCY loops each sending back-to-back for SECONDS. */
async function load(target: (i: number) => { url: URL; body: string; token: string }, expect: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let counter = 0;
  const end = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        const { url, body, token } = target(counter++);
        const t0 = performance.now();
        const status = await post(url, body, token).catch(() => 0);
        latencies.push(performance.now() - t0);
        if (status !== expect) errors++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { requests: latencies.length, rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors };
}

/** The floor: Koa reading and parsing the same JSON body, answering 202 with a small JSON. */
async function bareKoa(): Promise<{ url: string; close(): Promise<void> }> {
  const app = new Koa();
  app.use(async (ctx) => {
    const parsed = JSON.parse(await getRawBody(ctx.req, { encoding: 'utf8', limit: 65536 })) as { client_id: string };
    ctx.status = 202;
    ctx.body = { id: uuidv7(), client_id: parsed.client_id, status: 'accepted' };
  });
  const server = http.createServer(app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

async function seed(deps: Deps) {
  const db = deps.db;
  const users = await db('users')
    .insert(Array.from({ length: USERS }, (_, i) => ({ email: `bench${i}@example.com`, display_name: `Bench ${i}`, password_hash: 'bench' })))
    .returning('id');
  const ids = users.map((u: { id: string }) => String(u.id));
  const [ws] = await db('workspaces').insert({ name: 'bench', slug: 'bench', created_by: ids[0] }).returning('id');
  await db('workspace_members').insert(ids.map((id: string, i: number) => ({ workspace_id: ws.id, user_id: id, role: i === 0 ? 'owner' : 'member' })));
  const chats: string[] = [];
  for (let c = 0; c < CHATS; c++) {
    const [chat] = await db('chats').insert({ workspace_id: ws.id, type: 'private', name: `bench-${c}`, created_by: ids[0] }).returning('id');
    chats.push(String(chat.id));
    await db('chat_members').insert(ids.map((id: string) => ({ chat_id: chat.id, user_id: id, workspace_id: ws.id })));
  }
  return { workspace: String(ws.id), chats, users: ids.map((id: string) => ({ id, token: signAccessToken(deps.tokens, id) })) };
}

const storedTotal = async (deps: Deps) => Number((await deps.db('messages').count({ n: '*' }))[0].n);
const fmt = (r: LoadResult) => `${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2).padStart(6)} ms  p99 ${r.p99.toFixed(2).padStart(6)} ms  (${r.requests} requests, ${r.errors} errors)`;

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-bench-'));
  chmodSync(dir, 0o755); // as root, the postgres user must reach its data folder
  const services: EmbeddedService[] = [];
  try {
    const redis = await startEmbeddedRedis({ dataDir: path.join(dir, 'redis'), persistent: true });
    services.push(redis);
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), database: 'fechatter' });
    services.push(pg);
    const migrator = createDb(pg.url, 1);
    await migrateLatest(migrator).finally(() => migrator.destroy());
    const config = loadConfig({
      NODE_ENV: 'test', DATABASE_URL: pg.url, REDIS_URL: redis.url, JWT_SECRET: 'bench-secret-0123456789-0123456789-0123456789',
      HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', DB_POOL_MAX: '20', WORKER_QUEUES: 'persist',
      RATE_LIMIT_WRITE_PER_MINUTE: '100000000', RATE_LIMIT_IP_PER_MINUTE: '100000000',
    });
    const deps = await createDeps(config, createLogger('silent'));
    const { chats, users } = await seed(deps);
    console.log(`Fechatter send benchmark: concurrency ${CONCURRENCY}, ${SECONDS} s per HTTP phase, ${CHATS} chats, ${USERS} senders, ${os.cpus().length} CPUs (load generator in the same process)\n`);

    // 1a. The floor: bare Koa + JSON.
    const bare = await bareKoa();
    const bareUrl = new URL('/', bare.url);
    const floor = await load((i) => ({ url: bareUrl, body: JSON.stringify({ content: `hello ${i}`, client_id: `bare-${i}` }), token: 'x' }), 202);
    await bare.close();

    // 1b. The real endpoint: auth, rate limits, membership, idempotency, queue add. No worker
    // runs yet, so the jobs pile up in Redis and phase 2 measures draining them.
    const api = await startRole('api', deps);
    const urls = chats.map((c) => new URL(`/api/v1/chats/${c}/messages`, api.url));
    const send = await load((i) => ({ url: urls[i % CHATS], body: JSON.stringify({ content: `hello ${i}`, client_id: `c-${i}` }), token: users[i % USERS].token }), 202);
    await api.stop();
    console.log('202 path (accept)');
    console.log(`  bare Koa + JSON parse      ${fmt(floor)}`);
    console.log(`  POST /chats/:cid/messages  ${fmt(send)}`);

    // 2a. Drain: accepted -> stored by one in-process persist worker. Top the queue up to
    // DRAIN_JOBS through the same domain call the route uses, so the drain is long enough to time.
    let queued = send.requests - send.errors;
    let next = 0;
    const topUp = Math.max(0, DRAIN_JOBS - queued);
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < topUp) {
        const i = next++;
        await acceptMessage(deps, users[i % USERS].id, chats[i % CHATS], { content: `top-up ${i}`, client_id: `t-${i}` });
      }
    }));
    queued += topUp;
    const before = await storedTotal(deps);
    const t0 = performance.now();
    const workers = await startWorkers(deps);
    while ((await storedTotal(deps)) - before < queued) await new Promise((r) => setTimeout(r, 20));
    const drainSeconds = (performance.now() - t0) / 1000;
    await workers.close();
    const batches = (await metrics.persistBatchSize.get()).values;
    const batchSum = batches.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
    const batchCount = batches.find((v) => v.metricName?.endsWith('_count'))?.value ?? 1;

    // 2b. The floor: a plain loop of single-row INSERTs (autocommit each) into messages.
    const [{ id: chatId, workspace_id: workspaceId }] = await deps.db('chats').where({ id: chats[0] }).select('id', 'workspace_id');
    const [{ last_seq: lastSeq }] = await deps.db('chats').where({ id: chatId }).select('last_seq');
    const t1 = performance.now();
    for (let i = 1; i <= INSERT_ROWS; i++) {
      await deps.db('messages').insert({ id: uuidv7(), chat_id: chatId, workspace_id: workspaceId, seq: Number(lastSeq) + i, sender_id: users[0].id, client_id: `loop-${i}`, content: `hello ${i}` });
    }
    const loopSeconds = (performance.now() - t1) / 1000;
    console.log('\npersist path (accepted -> stored)');
    console.log(`  single-row INSERT loop     ${(INSERT_ROWS / loopSeconds).toFixed(0).padStart(6)} rows/s  (${INSERT_ROWS} rows in ${loopSeconds.toFixed(2)} s)`);
    console.log(`  persist worker (batched)   ${(queued / drainSeconds).toFixed(0).padStart(6)} msg/s   (${queued} jobs in ${drainSeconds.toFixed(2)} s, mean batch ${(batchSum / batchCount).toFixed(1)} jobs, concurrency ${config.WORKER_CONCURRENCY}, max batch ${config.PERSIST_BATCH_SIZE})`);

    agent.destroy();
    await closeDeps(deps);
  } finally {
    for (const service of services.reverse()) await service.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
