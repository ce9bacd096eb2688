// Benchmark of full-text search (not a test): `tsx bench/search.ts [--messages N] [--1m]`.
// Starts its own PostgreSQL and redis-server in a temp folder, seeds N messages (default 100k;
// `--1m` for a million) of Zipf-distributed words over a year in 40 chats, then measures in one run:
//   1. GET /workspaces/:wid/search through the HTTP API (Postgres engine): a mixed workload at
//      fixed concurrency (req/s, p50, p99), and each query shape alone (sequential p50/p99);
//   2. next to it, a plain indexed SELECT: GET /chats/:cid/messages through the same API, and
//      the same history SELECT straight on the pool (no HTTP).
// Env: BENCH_SECONDS (per phase, default 5), BENCH_CONCURRENCY (default 16).
import http from 'node:http';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { closeDeps, createDeps, type Deps } from '../src/deps.js';
import { signAccessToken } from '../src/domain/tokens.js';
import { startEmbeddedPostgres, startEmbeddedRedis, type EmbeddedService } from '../src/infra/embedded.js';
import { migrateLatest } from '../src/infra/migrate.js';
import { createDb } from '../src/infra/db.js';
import { createLogger } from '../src/observability/logger.js';
import { startRole } from '../src/roles.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const MESSAGES = args.includes('--1m') ? 1_000_000 : Number(flag('--messages') ?? 100_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const CHATS = 40; // 10 public, 30 private; the searching user belongs to 15 of the private ones
const USERS = 20;
const SEED_BATCH = 100_000;

// Real words for queries, then synthetic ones for a long tail. Word k is drawn with probability
// ~ k^(-2/3) (random()^3 scaled), so a few words are in most messages and most are rare.
const COMMON = ['deploy', 'release', 'meeting', 'review', 'customer', 'invoice', 'server', 'database', 'design', 'budget', 'report', 'launch', 'support', 'ticket', 'feature', 'bug', 'fix', 'test', 'schedule', 'quarter',
  'team', 'project', 'update', 'question', 'lunch', 'friday', 'monday', 'roadmap', 'incident', 'latency', 'migration', 'backup', 'contract', 'pricing', 'onboarding', 'hiring', 'marketing', 'sales', 'analytics', 'dashboard'];
const VOCABULARY = [...COMMON, ...Array.from({ length: 4960 }, (_, i) => `w${i.toString(36)}x`)];

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function get(url: URL, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'GET', agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function summarize(latencies: number[], seconds: number, errors: number): LoadResult {
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { requests: latencies.length, rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), errors };
}

/** `concurrency` loops calling `op` back to back for SECONDS. */
async function load(op: (i: number) => Promise<boolean>, concurrency = CONCURRENCY): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let counter = 0;
  const started = performance.now();
  const end = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const ok = await op(counter++).catch(() => false);
        latencies.push(performance.now() - t0);
        if (!ok) errors++;
      }
    }),
  );
  return summarize(latencies, (performance.now() - started) / 1000, errors);
}

async function seed(deps: Deps) {
  const db = deps.db;
  const users = (await db('users')
    .insert(Array.from({ length: USERS }, (_, i) => ({ email: `bench${i}@example.com`, display_name: `Bench ${i}`, password_hash: 'bench' })))
    .returning('id')).map((u: { id: string }) => String(u.id));
  const [ws] = await db('workspaces').insert({ name: 'bench', slug: 'bench', created_by: users[0] }).returning('id');
  await db('workspace_members').insert(users.map((id, i) => ({ workspace_id: ws.id, user_id: id, role: i === 0 ? 'owner' : 'member' })));
  const chats: string[] = [];
  for (let c = 0; c < CHATS; c++) {
    const type = c < 10 ? 'public' : 'private';
    const [chat] = await db('chats').insert({ workspace_id: ws.id, type, name: `bench-${c}`, created_by: users[1] }).returning('id');
    chats.push(String(chat.id));
    // users[0] searches: a member of chats 10..24 (private) and of none of the public ones.
    const members = users.slice(1).concat(c >= 10 && c < 25 ? [users[0]] : []);
    await db('chat_members').insert(members.map((id) => ({ chat_id: chat.id, user_id: id, workspace_id: ws.id })));
  }
  const started = performance.now();
  for (let from = 0; from < MESSAGES; from += SEED_BATCH) {
    const to = Math.min(MESSAGES, from + SEED_BATCH) - 1;
    // Generated in SQL so a million rows take a minute, not an hour of round trips. The word
    // subquery references i, so it is re-evaluated per row.
    await db.raw(
      `insert into messages (id, chat_id, workspace_id, seq, sender_id, client_id, content, created_at)
       select gen_random_uuid(), (?::bigint[])[1 + i % ?], ?, i / ? + 1, (?::bigint[])[1 + (i * 7) % ?], 'seed-' || i,
              array_to_string(array(select (?::text[])[1 + floor(power(random(), 3) * ?)::int] from generate_series(1, 6 + i % 14)), ' '),
              now() - (? - i) * (interval '365 days' / ?)
       from generate_series(?::int, ?::int) as i`,
      [chats, CHATS, ws.id, CHATS, users.slice(1), USERS - 1, VOCABULARY, VOCABULARY.length, MESSAGES, MESSAGES, from, to],
    );
    const done = to + 1;
    process.stdout.write(`\r  seeding ${((done / MESSAGES) * 100).toFixed(0)}% (${done} messages, ${Math.round(done / ((performance.now() - started) / 1000))} msg/s)`);
  }
  process.stdout.write('\n');
  await db.raw('update chats set last_seq = (select coalesce(max(seq), 0) from messages where messages.chat_id = chats.id)');
  await db.raw('vacuum analyze messages');
  return { workspace: String(ws.id), chats, searcher: { id: users[0], token: signAccessToken(deps.tokens, users[0]) }, seedSeconds: (performance.now() - started) / 1000 };
}

const fmt = (r: LoadResult) =>
  `${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  (${r.requests} requests, ${r.errors} errors)`;

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-bench-search-'));
  chmodSync(dir, 0o755); // as root, the postgres user must reach its data folder
  const services: EmbeddedService[] = [];
  try {
    const redis = await startEmbeddedRedis({ dataDir: path.join(dir, 'redis'), persistent: false });
    services.push(redis);
    const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, 'postgres'), database: 'fechatter', ephemeral: true });
    services.push(pg);
    const migrator = createDb(pg.url, 1);
    await migrateLatest(migrator).finally(() => migrator.destroy());
    const config = loadConfig({
      NODE_ENV: 'test', DATABASE_URL: pg.url, REDIS_URL: redis.url, JWT_SECRET: 'bench-secret-0123456789-0123456789-0123456789',
      HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'silent', DB_POOL_MAX: '20',
      RATE_LIMIT_SEARCH_PER_MINUTE: '100000000', RATE_LIMIT_IP_PER_MINUTE: '100000000',
    });
    const deps = await createDeps(config, createLogger('silent'));
    console.log(`Fechatter search benchmark: ${MESSAGES} messages, ${CHATS} chats, concurrency ${CONCURRENCY}, ${SECONDS} s per phase, ${os.cpus().length} CPUs (load generator in the same process)`);
    const { workspace, chats, searcher, seedSeconds } = await seed(deps);
    const [{ readable }] = (await deps.db.raw(
      `select count(*)::int as readable from messages m where m.workspace_id = ? and m.chat_id in
         (select chat_id from chat_members where user_id = ? union select id from chats where workspace_id = ? and type = 'public')`,
      [workspace, searcher.id, workspace],
    )).rows;
    console.log(`  seeded in ${seedSeconds.toFixed(1)} s; the searching user can read ${readable} of them (25 of 40 chats)\n`);

    const api = await startRole('api', deps);
    const searchUrl = (q: string, extra = '') => new URL(`/api/v1/workspaces/${workspace}/search?q=${encodeURIComponent(q)}${extra}`, api.url);
    const shapes: Array<[string, URL]> = [
      ['common word  "deploy"', searchUrl('deploy')],
      ['two words  "customer invoice"', searchUrl('customer invoice')],
      ['phrase  "\\"release schedule\\""', searchUrl('"release schedule"')],
      ['exclusion  "budget -report"', searchUrl('budget -report')],
      ['prefix (typing)  "onboa"', searchUrl('onboa')],
      ['rare word  "w2bx"', searchUrl(`w${(2000).toString(36)}x`)],
      ['common word in one chat', searchUrl('deploy', `&chat_id=${chats[12]}`)],
      ['common word, last 30 days', searchUrl('deploy', `&from=${new Date(Date.now() - 30 * 86_400_000).toISOString()}`)],
    ];

    // Each shape alone, sequentially (what one user typing sees), with its hit count.
    console.log('search shapes, one at a time (GET /workspaces/:wid/search, limit 20)');
    for (const [name, url] of shapes) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${searcher.token}` } });
      const body = (await res.json()) as { total: number };
      const latencies: number[] = [];
      for (let i = 0; i < 30; i++) {
        const t0 = performance.now();
        await get(url, searcher.token);
        latencies.push(performance.now() - t0);
      }
      const r = summarize(latencies, 1, 0);
      console.log(`  ${name.padEnd(34)} ${String(body.total).padStart(7)} hits  p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms`);
    }

    const mixed = await load(async (i) => (await get(shapes[i % shapes.length][1], searcher.token)) === 200);
    const historyUrls = chats.slice(10, 25).map((c) => new URL(`/api/v1/chats/${c}/messages?limit=20`, api.url));
    const history = await load(async (i) => (await get(historyUrls[i % historyUrls.length], searcher.token)) === 200);
    const rawSelect = await load(async (i) => {
      const rows = await deps.db('messages').where({ chat_id: chats[10 + (i % 15)] }).orderBy('seq', 'desc').limit(20).select('id', 'seq', 'content', 'created_at');
      return rows.length === 20;
    });
    await api.stop();

    console.log(`\nconcurrency ${CONCURRENCY}`);
    console.log(`  search, mixed shapes (HTTP)               ${fmt(mixed)}`);
    console.log(`  plain indexed SELECT: history page (HTTP) ${fmt(history)}`);
    console.log(`  plain indexed SELECT on the pool (no HTTP)${fmt(rawSelect)}`);

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
