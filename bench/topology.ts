// End to end across processes (not a test): `npm run bench -- --topology=2web,2worker,2fanout
// [--shards=1,4] [--redis=single,cluster]` (and, in every full run, 1web,1worker,1fanout as "e2e").
// Spawns each role as its own process (`node --import tsx src/main.ts <role>`) against the run's
// one Postgres and its Redis (or a local 3-master cluster for `--redis=cluster`), then:
//   send:      closed-loop POST /chats/:cid/messages spread over the web processes (202/s);
//   persisted: messages stored per second, from the first send until the last one is stored;
//   delivery:  open-loop sends at a fixed rate; WebSocket subscribers record send -> receipt of
//              message.created (one clock: this process).
// Traffic spreads over WORKSPACES workspaces (one chat and SUBSCRIBERS users each), so with
// several EVENT_STREAM_SHARDS the events spread over the shards; each workspace's subscribers sit
// on one fanout process (workspace w on fanout w mod F), so each fanout reads only its users' shards.
// With --profile the web and worker processes run under `node --cpu-prof` and leave
// .cpuprofile files in bench/results/ (summarised by bench/profile.ts).
import path from 'node:path';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import type WebSocket from 'ws';
import { workspaceShard } from '../src/infra/events.js';
import { packageRoot } from '../src/version.js';
import { startRedisCluster, type LocalCluster } from '../test/helpers/redis-cluster.js';
import { connectMany } from './fanout.js';
import {
  benchDeps,
  benchEnv,
  httpRequest,
  load,
  resetAgent,
  round,
  seedWorkspace,
  sleep,
  spawnRole,
  summarize,
  trackPid,
  type BenchOptions,
  type BenchRow,
  type Seeded,
  type Spawned,
} from './lib.js';

export interface Topology {
  web: number;
  worker: number;
  fanout: number;
}

export function parseTopology(text: string): Topology {
  const t: Topology = { web: 0, worker: 0, fanout: 0 };
  for (const part of text.split(',')) {
    const m = /^(\d+)(web|api|worker|fanout)$/.exec(part.trim());
    if (!m) throw new Error(`--topology: "${part}" is not like 2web, 2worker or 2fanout`);
    t[m[2] === 'api' ? 'web' : (m[2] as keyof Topology)] = Number(m[1]);
  }
  if (!t.web || !t.worker || !t.fanout) throw new Error('--topology needs at least one web, one worker and one fanout');
  return t;
}

export const topologyName = (t: Topology) => `${t.web}web,${t.worker}worker,${t.fanout}fanout`;

/** What the processes run on: one redis-server or a local 3-master cluster, and EVENT_STREAM_SHARDS. */
export interface Variant {
  redis: 'single' | 'cluster';
  shards: number;
}

const BASE_VARIANT: Variant = { redis: 'single', shards: 1 };

/**
 * The combinations `--shards=1,4` and `--redis=single,cluster` ask for (every shard count on every
 * Redis), or undefined without either flag. Both need --topology: the baseline stays 1,1,1 on one
 * Redis with one shard.
 */
export function parseVariants(args: Record<string, string | boolean>): Variant[] | undefined {
  if (args.shards === undefined && args.redis === undefined) return undefined;
  if (typeof args.topology !== 'string') throw new Error('--shards and --redis need --topology');
  const list = (flag: 'shards' | 'redis', fallback: string) => {
    const v = args[flag] ?? fallback;
    if (typeof v !== 'string' || !v.trim()) throw new Error(`--${flag} needs a comma-separated list`);
    return [...new Set(v.split(',').map((x) => x.trim()))];
  };
  const shards = list('shards', '1').map((x) => {
    const n = Number(x);
    if (!/^\d+$/.test(x) || n < 1 || n > 256) throw new Error(`--shards: "${x}" is not a shard count from 1 to 256`);
    return n;
  });
  const redis = list('redis', 'single').map((x) => {
    if (x !== 'single' && x !== 'cluster') throw new Error(`--redis: "${x}" is not single or cluster`);
    return x;
  });
  return redis.flatMap((r) => shards.map((n) => ({ redis: r, shards: n })));
}

const variantName = (v: Variant) => `${v.redis}, ${v.shards} shard${v.shards === 1 ? '' : 's'}`;

const WORKSPACES = 8;
/** Users per workspace, each with one socket: every message is delivered to this many sockets. */
const SUBSCRIBERS = 4;

interface TopologyResult {
  send: ReturnType<typeof summarize>;
  persisted_per_s: number;
  persisted: number;
  persist_seconds: number;
  delivery: ReturnType<typeof summarize> & { offered_rps: number; missing: number };
  accept: ReturnType<typeof summarize>;
  /** How the workspaces fell on the shards, and anything delivered where it should not be. */
  note?: string;
}

async function runOne(options: BenchOptions, t: Topology, variant: Variant, redisUrl: string | undefined, profile: boolean): Promise<TopologyResult> {
  const seconds = options.quick ? 3 : 5;
  const rate = Number(options.args.rate) || (options.quick ? 500 : 1000);
  const concurrency = 32;
  const label = `topology ${topologyName(t)}, ${variantName(variant)}`;
  const prefix = `btopo${Date.now().toString(36)}`;
  const env = benchEnv(options.services, {
    REDIS_PREFIX: prefix,
    WORKER_QUEUES: 'persist',
    CONNECTION_LIMIT: '10000',
    EVENT_STREAM_SHARDS: String(variant.shards),
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
  });
  const { deps, close } = await benchDeps(env);
  const procs: Spawned[] = [];
  const sockets: WebSocket[] = [];
  const profDir = path.join(packageRoot, 'bench/results');
  if (profile) mkdirSync(profDir, { recursive: true });
  try {
    const workspaces: Seeded[] = [];
    for (let w = 0; w < WORKSPACES; w++) workspaces.push(await seedWorkspace(deps.db, deps.tokens, { users: SUBSCRIBERS, chats: 1, tag: 'topo' }));
    options.log(`${label}: starting processes`);
    // One at a time: six processes compiling TypeScript at once on a busy 2-CPU machine can miss
    // spawnRole's 30 s start limit.
    const roles = [
      ...Array.from({ length: t.web }, () => 'api' as const),
      ...Array.from({ length: t.worker }, () => 'worker' as const),
      ...Array.from({ length: t.fanout }, () => 'fanout' as const),
    ];
    const started: Spawned[] = [];
    for (const role of roles) {
      const proc = await spawnRole(role, env, { cpuProfDir: profile && role !== 'fanout' ? profDir : undefined });
      started.push(proc);
      procs.push(proc);
    }
    const webs = started.slice(0, t.web);
    const fanouts = started.slice(t.web + t.worker);

    // Subscribers: one clock (this process) from send to receipt, keyed by client_id.
    const sentAt = new Map<string, { t0: number; workspace: number }>();
    const delivered: number[] = [];
    let foreign = 0;
    const onMessage = (workspace: number) => (data: Buffer) => {
      const e = JSON.parse(data.toString()) as { type: string; data: { client_id: string } };
      if (e.type !== 'message.created') return;
      const sent = sentAt.get(e.data.client_id);
      if (!sent) return;
      if (sent.workspace === workspace) delivered.push(performance.now() - sent.t0);
      else foreign++;
    };
    for (let w = 0; w < WORKSPACES; w++) {
      const f = fanouts[w % fanouts.length];
      const users = workspaces[w].users;
      sockets.push(...(await connectMany((i) => `${f.url.replace('http', 'ws')}/api/v1/ws?access_token=${users[i].token}`, users.length, onMessage(w))));
    }
    const shardOf = (w: number) => workspaceShard(variant.shards, workspaces[w].workspace);
    // Message i: workspace i mod W, one of its users, a web process taking turns per round of W.
    const workspaceOf = (i: number) => i % WORKSPACES;
    const send = (i: number, tag: string) => {
      const ws = workspaces[workspaceOf(i)];
      const turn = Math.floor(i / WORKSPACES);
      return httpRequest(
        `${webs[turn % webs.length].url}/api/v1/chats/${ws.chats[0]}/messages`,
        'POST',
        { authorization: `Bearer ${ws.users[turn % ws.users.length].token}` },
        JSON.stringify({ content: `hello ${i}`, client_id: `${tag}-${i}` }),
      );
    };
    const ids = workspaces.map((w) => w.workspace);
    const stored = async () => Number((await deps.db('messages').whereIn('workspace_id', ids).count({ n: '*' }))[0].n);
    await load({ concurrency: 4, seconds: 0.5, fire: (i) => send(i, 'warm') });
    await sleep(500);

    // 1. Closed-loop send; persisted = stored / (first send -> last stored).
    options.log(`${label}: closed-loop send, ${seconds} s at concurrency ${concurrency}`);
    const base = await stored();
    const t0 = performance.now();
    const sendResult = await load({ concurrency, seconds, fire: (i) => send(i, 'c') });
    const target = base + sendResult.requests;
    const deadline = performance.now() + 60_000;
    while ((await stored()) < target && performance.now() < deadline) await sleep(20);
    const persistSeconds = (performance.now() - t0) / 1000;
    const persisted = (await stored()) - base;
    await sleep(1000);

    // 2. Open-loop at `rate` msg/s: send -> delivery on every subscriber of the message's workspace.
    options.log(`${label}: ${rate} msg/s for ${seconds} s, delivery latency to ${SUBSCRIBERS} sockets per workspace`);
    delivered.length = 0;
    let expected = 0;
    const accept = await load({
      concurrency,
      seconds,
      ratePerSecond: rate,
      fire: async (i) => {
        sentAt.set(`d-${i}`, { t0: performance.now(), workspace: workspaceOf(i) });
        await send(i, 'd');
        expected += workspaces[workspaceOf(i)].users.length;
      },
    });
    const waitUntil = performance.now() + 15_000;
    while (delivered.length < expected && performance.now() < waitUntil) await sleep(50);
    const delivery = summarize(delivered, 0, seconds);
    const notes: string[] = [];
    if (variant.shards > 1) {
      const perShard = Array.from({ length: variant.shards }, (_, k) => ids.filter((_, w) => shardOf(w) === k).length);
      const read = fanouts.map((_, f) =>
        [
          ...new Set(
            ids
              .map((_, w) => w)
              .filter((w) => w % fanouts.length === f)
              .map(shardOf),
          ),
        ].sort((a, b) => a - b),
      );
      notes.push(`workspaces per shard ${perShard.join('/')}; fanouts read shards ${read.map((r) => `{${r.join(',')}}`).join(' ')}`);
    }
    if (foreign) notes.push(`${foreign} deliveries to sockets outside the message's workspace`);
    return {
      send: sendResult,
      persisted_per_s: Math.round(persisted / persistSeconds),
      persisted,
      persist_seconds: round(persistSeconds),
      accept,
      delivery: { ...delivery, offered_rps: rate, missing: expected - delivered.length },
      note: notes.join('; ') || undefined,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    resetAgent();
    await Promise.all(procs.map((p) => p.stop()));
    await close();
  }
}

function rowsOf(name: string, r: TopologyResult, base?: { name: string; r: TopologyResult }): BenchRow[] {
  const sendRow = (x: TopologyResult) => ({ rps: x.send.rps, p50_ms: x.send.p50_ms, p99_ms: x.send.p99_ms, errors: x.send.errors });
  const persistRow = (x: TopologyResult) => ({ rps: x.persisted_per_s, requests: x.persisted, seconds: x.persist_seconds });
  const deliveryRow = (x: TopologyResult) => ({
    offered_rps: x.delivery.offered_rps,
    accepted: x.accept.requests,
    deliveries: x.delivery.requests,
    missing: x.delivery.missing,
    p50_ms: x.delivery.p50_ms,
    p99_ms: x.delivery.p99_ms,
    accept_p99_ms: x.accept.p99_ms,
  });
  const bench = base ? 'topology' : 'e2e';
  const scaled = base ? ` (vs ${base.name})` : '';
  return [
    { bench, case: `${name}: send (202/s, closed loop)${scaled}`, result: sendRow(r), baseline: base && { case: base.name, result: sendRow(base.r) } },
    { bench, case: `${name}: persisted (stored/s)${scaled}`, result: persistRow(r), baseline: base && { case: base.name, result: persistRow(base.r) } },
    {
      bench,
      case: `${name}: send -> WebSocket delivery at ${r.delivery.offered_rps} msg/s${scaled}`,
      result: deliveryRow(r),
      baseline: base && { case: base.name, result: deliveryRow(base.r) },
      target: {
        text: `p99 < 50 ms at 1,000 msg/s${r.delivery.offered_rps !== 1000 ? ` (this run: ${r.delivery.offered_rps} msg/s)` : ''}`,
        met: r.delivery.p99_ms < 50 && r.delivery.missing === 0,
      },
      ...(r.note ? { note: r.note } : {}),
    },
  ];
}

/**
 * Without --topology: 1web,1worker,1fanout alone ("e2e"); with it: 1,1,1 (one Redis, one shard)
 * next to the requested topology, once per --redis x --shards combination. A cluster is started
 * for the cluster combinations and stopped after them.
 */
export async function run(options: BenchOptions): Promise<BenchRow[]> {
  const profile = options.args.profile === true;
  const one: Topology = { web: 1, worker: 1, fanout: 1 };
  const requested = typeof options.args.topology === 'string' ? parseTopology(options.args.topology) : undefined;
  const variants = parseVariants(options.args);
  const baseResult = await runOne(options, one, BASE_VARIANT, undefined, profile && !requested);
  if (!requested) return rowsOf(topologyName(one), baseResult);
  const base = { name: topologyName(one), r: baseResult };
  const rows = rowsOf(topologyName(one), baseResult).map((r) => ({ ...r, bench: 'topology' }));
  let cluster: { local: LocalCluster; dir: string; untrack: () => void } | undefined;
  try {
    for (const variant of variants ?? [BASE_VARIANT]) {
      if (variant.redis === 'cluster' && !cluster) {
        options.log('starting a local 3-master Redis Cluster');
        const dir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-bench-cluster-'));
        const local = await startRedisCluster(dir).catch((err) => {
          rmSync(dir, { recursive: true, force: true });
          throw err;
        });
        cluster = { local, dir, untrack: trackPid(...local.nodes.map((n) => n.pid)) };
      }
      const result = await runOne(options, requested, variant, variant.redis === 'cluster' ? cluster!.local.url : undefined, profile);
      // Without --shards/--redis the rows keep their names from before those flags.
      const name = variants ? `${topologyName(requested)}, ${variantName(variant)}` : topologyName(requested);
      rows.push(...rowsOf(name, result, base));
    }
  } finally {
    if (cluster) {
      await cluster.local.stop();
      cluster.untrack();
      rmSync(cluster.dir, { recursive: true, force: true });
    }
  }
  return rows;
}
