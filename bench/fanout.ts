// Fanout benchmark (standalone): `npx tsx bench/fanout.ts`.
//  1. Idle capacity: IDLE WebSocket connections to one real `fechatter fanout` process, and its
//     RSS per connection (from /proc, before and after).
//  2. Latency: a fixed offered load of message.created events (RATE per second for SECONDS)
//     XADDed to the stream; each of SUBSCRIBERS chat members' sockets records XADD -> receipt.
//     The same messages go, in the same run, through a bare `ws` broadcast server (XREAD ->
//     send to every socket, no auth, membership or resume) as the floor to compare with.
// Uses DATABASE_URL / REDIS_URL when set, otherwise private embedded servers under .data/bench.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { createDb } from '../src/infra/db.js';
import { startEmbeddedPostgres, startEmbeddedRedis, type EmbeddedService } from '../src/infra/embedded.js';
import { publishEvents } from '../src/infra/events.js';
import { migrateLatest } from '../src/infra/migrate.js';
import { signAccessToken } from '../src/domain/tokens.js';
import { packageRoot } from '../src/version.js';

const IDLE = Number(process.env.IDLE ?? 5000);
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 50);
const RATE = Number(process.env.RATE ?? 100);
const SECONDS = Number(process.env.SECONDS ?? 5);
const USERS = 50;
const SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789';
const PREFIX = `bench${Date.now().toString(36)}`;

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

function spawnProcess(args: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { cwd: packageRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start:\n${out}`)), 30_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      const match = ready.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited ${code}:\n${out}`)));
  });
}

async function connectMany(url: string, n: number, onMessage?: (data: Buffer) => void): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  const BATCH = 200;
  for (let i = 0; i < n; i += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, n - i) }, (_, j) =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(typeof url === 'string' ? url.replace('{i}', String(i + j)) : url);
          ws.once('open', () => resolve(ws));
          ws.once('error', reject);
          if (onMessage) ws.on('message', onMessage);
        }),
      ),
    );
    sockets.push(...batch);
  }
  return sockets;
}

// A bare broadcast server: the floor. Runs as its own process, like the fanout.
const BARE = `
const { WebSocketServer } = require('ws'); const { Redis } = require('ioredis');
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => console.log('bare listening on ' + wss.address().port));
const redis = new Redis(process.env.REDIS_URL); let last = '$';
(async () => { const r = await redis.xrevrange(process.env.KEY, '+', '-', 'COUNT', 1); last = r[0] ? r[0][0] : '0-0';
  for (;;) { const res = await redis.xread('COUNT', 1000, 'BLOCK', 5000, 'STREAMS', process.env.KEY, last); if (!res) continue;
    for (const [id, f] of res[0][1]) { last = id; const e = JSON.parse(f[1]); const text = JSON.stringify({ id, ...e }); for (const c of wss.clients) c.send(text); } } })();
`;

async function main() {
  const embedded: EmbeddedService[] = [];
  let databaseUrl = process.env.DATABASE_URL;
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const r = await startEmbeddedRedis({ dataDir: path.join(packageRoot, '.data/bench/redis'), persistent: false });
    embedded.push(r);
    redisUrl = r.url;
  }
  if (!databaseUrl) {
    const pg = await startEmbeddedPostgres({ dataDir: path.join(packageRoot, '.data/bench/postgres'), database: 'fechatter_bench', ephemeral: true });
    embedded.push(pg);
    databaseUrl = pg.url;
  }
  const db = createDb(databaseUrl, 4);
  await migrateLatest(db);
  const tokens = { secret: SECRET, issuer: 'fechatter', audience: 'fechatter-api', expiresInSeconds: 3600 };

  // USERS users in one workspace and one chat; every connection belongs to one of them.
  const users = await db('users')
    .insert(Array.from({ length: USERS }, (_, i) => ({ email: `${PREFIX}-${i}@bench.test`, display_name: `u${i}`, password_hash: 'x' })))
    .returning('id');
  const userIds = users.map((u: { id: string }) => String(u.id));
  const [{ id: wsId }] = await db('workspaces').insert({ name: PREFIX, slug: PREFIX, created_by: userIds[0] }).returning('id');
  await db('workspace_members').insert(userIds.map((u) => ({ workspace_id: wsId, user_id: u, role: 'member' })));
  const [{ id: chatId }] = await db('chats').insert({ workspace_id: wsId, type: 'private', name: 'bench', created_by: userIds[0] }).returning('id');
  await db('chat_members').insert(userIds.map((u) => ({ chat_id: chatId, user_id: u, workspace_id: wsId })));
  const tokenOf = userIds.map((u) => signAccessToken(tokens, u));

  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: PREFIX,
    JWT_SECRET: SECRET,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    CONNECTION_LIMIT: '10000',
    DB_POOL_MAX: '10',
  };
  const fanout = await spawnProcess(['--import', 'tsx', 'src/main.ts', 'fanout'], env, /listening on (http:\/\/[\d.]+:\d+)/);
  const fanoutUrl = fanout.match[1].replace('http', 'ws');
  const bare = await spawnProcess(['-e', BARE], { REDIS_URL: redisUrl, KEY: `${PREFIX}:events` }, /bare listening on (\d+)/);
  const bareUrl = `ws://127.0.0.1:${bare.match[1]}`;
  await new Promise((r) => setTimeout(r, 500));

  // 1. Idle connections and memory.
  const rssBefore = rssKb(fanout.child.pid!);
  const started = Date.now();
  const idle = await connectMany(`${fanoutUrl}/api/v1/ws?access_token=`, 0);
  for (let i = 0; i < IDLE; i += 500) {
    const n = Math.min(500, IDLE - i);
    const batch = await Promise.all(
      Array.from({ length: n }, (_, j) => connectMany(`${fanoutUrl}/api/v1/ws?access_token=${tokenOf[(i + j) % USERS]}`, 1)),
    );
    idle.push(...batch.flat());
  }
  const connectSeconds = (Date.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  const rssAfter = rssKb(fanout.child.pid!);
  for (const ws of idle) ws.terminate();
  await new Promise((r) => setTimeout(r, 1000));

  // 2. Latency at a fixed offered load, fanout vs bare ws, same messages, same run.
  const lat = { fanout: [] as number[], bare: [] as number[] };
  const record = (into: number[]) => (data: Buffer) => {
    const e = JSON.parse(data.toString());
    if (e.type === 'message.created') into.push(Date.now() - e.data.accepted_at);
  };
  const subs = await Promise.all(
    Array.from({ length: SUBSCRIBERS }, (_, i) => connectMany(`${fanoutUrl}/api/v1/ws?access_token=${tokenOf[i % USERS]}`, 1, record(lat.fanout))),
  );
  const bareSubs = await connectMany(bareUrl, SUBSCRIBERS, record(lat.bare));
  await new Promise((r) => setTimeout(r, 1000));
  const redis = new Redis(redisUrl);
  const stream = { key: `${PREFIX}:events`, maxLen: 100_000 };
  const total = RATE * SECONDS;
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const now = Date.now();
    await publishEvents(redis, stream, [
      {
        type: 'message.created',
        workspace_id: String(wsId),
        chat_id: String(chatId),
        data: { id: `m${i}`, chat_id: String(chatId), seq: i + 1, sender_id: userIds[0], content: `bench message ${i} `.padEnd(120, 'x'), client_id: `b${i}`, accepted_at: now },
      },
    ]);
  }
  const expected = total * SUBSCRIBERS;
  const deadline = Date.now() + 30_000;
  while ((lat.fanout.length < expected || lat.bare.length < expected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

  const summary = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return { received: s.length, p50_ms: pct(s, 50), p99_ms: pct(s, 99), max_ms: s.at(-1) };
  };
  const report = {
    idle: {
      connections: idle.length,
      connect_seconds: connectSeconds,
      rss_before_mb: +(rssBefore / 1024).toFixed(1),
      rss_after_mb: +(rssAfter / 1024).toFixed(1),
      rss_per_connection_kb: +((rssAfter - rssBefore) / idle.length).toFixed(2),
    },
    load: { rate_per_s: RATE, seconds: SECONDS, subscribers: SUBSCRIBERS, deliveries_expected: expected },
    fanout: summary(lat.fanout),
    bare_ws: summary(lat.bare),
  };
  console.log(JSON.stringify(report, null, 2));

  for (const ws of [...subs.flat(), ...bareSubs]) ws.terminate();
  fanout.child.kill('SIGTERM');
  bare.child.kill('SIGKILL');
  redis.disconnect();
  await db.destroy();
  for (const s of embedded.reverse()) await s.stop();
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
