// Fanout (not a test; `npm run bench -- --only fanout,connections`), against a real
// `fechatter fanout` process and, in the same run, a bare `ws` broadcast process (XREAD -> send
// to every socket; no auth, membership, resume or buffers) as the floor:
//   connections: N idle WebSocket connections, connect time and RSS per connection;
//   fanout:      a fixed offered load of message.created events XADDed to the stream; every
//                subscriber socket records XADD -> receipt.
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { eventStreams, publishEvents } from '../src/infra/events.js';
import { redisKeys } from '../src/infra/redis.js';
import { benchDeps, benchEnv, round, rssKb, seedWorkspace, sleep, spawnProcess, spawnRole, summarize, type BenchOptions, type BenchRow } from './lib.js';

// A bare broadcast server: the floor. Runs as its own process, like the fanout.
const BARE = `
const { WebSocketServer } = require('ws'); const { Redis } = require('ioredis');
const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => console.log('bare listening on ws://127.0.0.1:' + wss.address().port));
const redis = new Redis(process.env.REDIS_URL); let last = '$';
(async () => { const r = await redis.xrevrange(process.env.KEY, '+', '-', 'COUNT', 1); last = r[0] ? r[0][0] : '0-0';
  for (;;) { const res = await redis.xread('COUNT', 1000, 'BLOCK', 5000, 'STREAMS', process.env.KEY, last); if (!res) continue;
    for (const [id, f] of res[0][1]) { last = id; const e = JSON.parse(f[1]); const text = JSON.stringify({ id, ...e }); for (const c of wss.clients) c.send(text); } } })();
process.on('SIGTERM', () => process.exit(0));
`;

/** Opens `n` sockets, 200 at a time; each gets `onMessage`. */
export async function connectMany(url: (i: number) => string, n: number, onMessage?: (data: Buffer) => void): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.all(
      Array.from(
        { length: Math.min(200, n - i) },
        (_, j) =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(url(i + j));
            const timer = setTimeout(() => reject(new Error('websocket connect timed out')), 15_000);
            ws.once('open', () => {
              clearTimeout(timer);
              resolve(ws);
            });
            ws.once('error', reject);
            if (onMessage) ws.on('message', onMessage);
          }),
      ),
    );
    sockets.push(...batch);
  }
  return sockets;
}

export async function run(options: BenchOptions & { only?: string[] }): Promise<BenchRow[]> {
  const idleCount = options.quick ? 1000 : 5000;
  const subscribers = options.quick ? 20 : 50;
  const rate = options.quick ? 200 : 500;
  const seconds = options.quick ? 2 : 5;
  const prefix = `bfan${Date.now().toString(36)}`;
  const env = benchEnv(options.services, { REDIS_PREFIX: prefix, CONNECTION_LIMIT: '10000', DB_POOL_MAX: '10' });
  const { deps, close } = await benchDeps(env);
  const rows: BenchRow[] = [];
  const redis = new Redis(options.services.redisUrl);
  try {
    const { workspace, chats, users } = await seedWorkspace(deps.db, deps.tokens, { users: 50, chats: 1, tag: 'fanout' });
    const [fanout, bare] = await Promise.all([
      spawnRole('fanout', env),
      spawnProcess(['-e', BARE], { REDIS_URL: options.services.redisUrl, KEY: `${prefix}:events` }, /bare listening on (ws:\/\/[\d.]+:\d+)/),
    ]);
    try {
      const fanoutWs = (i: number) => `${fanout.url.replace('http', 'ws')}/api/v1/ws?access_token=${users[i % users.length].token}`;
      await sleep(300);
      if (!options.only || options.only.includes('connections')) {
        options.log(`connections: ${idleCount} idle sockets to the fanout, then to bare ws`);
        const idle = async (proc: typeof fanout, url: (i: number) => string) => {
          const before = rssKb(proc.child.pid!);
          const t0 = performance.now();
          const sockets = await connectMany(url, idleCount);
          const connectSeconds = (performance.now() - t0) / 1000;
          await sleep(500);
          const after = rssKb(proc.child.pid!);
          for (const ws of sockets) ws.terminate();
          await sleep(500);
          return {
            connections: sockets.length,
            connect_per_s: Math.round(sockets.length / connectSeconds),
            rss_before_mb: round(before / 1024, 1),
            rss_after_mb: round(after / 1024, 1),
            rss_per_connection_kb: round((after - before) / sockets.length),
          };
        };
        const f = await idle(fanout, fanoutWs);
        const b = await idle(bare, () => bare.url);
        rows.push({ bench: 'connections', case: `${idleCount} idle WebSocket connections`, result: f, baseline: { case: 'bare ws server', result: b } });
      }
      if (!options.only || options.only.includes('fanout')) {
        options.log(`fanout: ${rate} events/s for ${seconds} s to ${subscribers} sockets each`);
        const lat = { fanout: [] as number[], bare: [] as number[] };
        const record = (into: number[]) => (data: Buffer) => {
          const e = JSON.parse(data.toString());
          if (e.type === 'message.created') into.push(Date.now() - e.data.accepted_at);
        };
        const subs = await connectMany(fanoutWs, subscribers, record(lat.fanout));
        const bareSubs = await connectMany(() => bare.url, subscribers, record(lat.bare));
        await sleep(500);
        const stream = eventStreams(redisKeys(prefix), { shards: 1, maxLen: 100_000, maxAgeSeconds: 86400 });
        const total = rate * seconds;
        const t0 = performance.now();
        for (let i = 0; i < total; i++) {
          const wait = t0 + (i * 1000) / rate - performance.now();
          if (wait > 1) await sleep(wait);
          await publishEvents(redis, stream, [
            {
              type: 'message.created',
              workspace_id: workspace,
              chat_id: chats[0],
              data: {
                id: `m${i}`,
                chat_id: chats[0],
                seq: i + 1,
                sender_id: users[0].id,
                content: `bench message ${i} `.padEnd(120, 'x'),
                client_id: `b${i}`,
                accepted_at: Date.now(),
              },
            },
          ]);
        }
        const expected = total * subscribers;
        const deadline = Date.now() + 15_000;
        while ((lat.fanout.length < expected || lat.bare.length < expected) && Date.now() < deadline) await sleep(50);
        for (const ws of [...subs, ...bareSubs]) ws.terminate();
        const f = summarize(lat.fanout, expected - lat.fanout.length, seconds);
        const b = summarize(lat.bare, expected - lat.bare.length, seconds);
        const shape = (r: typeof f) => ({
          deliveries: r.requests,
          missing: r.errors,
          deliveries_per_s: Math.round(r.requests / seconds),
          p50_ms: r.p50_ms,
          p99_ms: r.p99_ms,
        });
        rows.push({
          bench: 'fanout',
          case: `XADD -> socket, ${rate} events/s x ${subscribers} sockets`,
          result: shape(f),
          baseline: { case: 'bare ws broadcast (XREAD -> send)', result: shape(b) },
        });
      }
    } finally {
      await Promise.all([fanout.stop(), bare.stop()]);
    }
    return rows;
  } finally {
    redis.disconnect();
    await close();
  }
}
