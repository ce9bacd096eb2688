// End to end across processes (not a test): `npm run bench -- --topology=2web,2worker,2fanout`
// (and, in every full run, 1web,1worker,1fanout as "e2e"). Spawns each role as its own process
// (`node --import tsx src/main.ts <role>`) against the run's one Postgres and one Redis, then:
//   send:      closed-loop POST /chats/:cid/messages spread over the web processes (202/s);
//   persisted: messages stored per second, from the first send until the last one is stored;
//   delivery:  open-loop sends at a fixed rate; WebSocket subscribers spread over the fanout
//              processes record send -> receipt of message.created (one clock: this process).
// With --profile the web and worker processes run under `node --cpu-prof` and leave
// .cpuprofile files in bench/results/ (summarised by bench/profile.ts).
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import type WebSocket from 'ws';
import { packageRoot } from '../src/version.js';
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
  type BenchOptions,
  type BenchRow,
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

interface TopologyResult {
  send: ReturnType<typeof summarize>;
  persisted_per_s: number;
  persisted: number;
  persist_seconds: number;
  delivery: ReturnType<typeof summarize> & { offered_rps: number; missing: number };
  accept: ReturnType<typeof summarize>;
}

async function runOne(options: BenchOptions, t: Topology, profile: boolean): Promise<TopologyResult> {
  const seconds = options.quick ? 3 : 5;
  const rate = Number(options.args.rate) || (options.quick ? 500 : 1000);
  const concurrency = 32;
  const subscribers = 4;
  const prefix = `btopo${Date.now().toString(36)}`;
  const env = benchEnv(options.services, { REDIS_PREFIX: prefix, WORKER_QUEUES: 'persist', CONNECTION_LIMIT: '10000' });
  const { deps, close } = await benchDeps(env);
  const procs: Spawned[] = [];
  const sockets: WebSocket[] = [];
  const profDir = path.join(packageRoot, 'bench/results');
  if (profile) mkdirSync(profDir, { recursive: true });
  try {
    const seeded = await seedWorkspace(deps.db, deps.tokens, { users: 8, chats: 8, tag: 'topo' });
    options.log(`topology ${topologyName(t)}: starting processes`);
    const started = await Promise.all([
      ...Array.from({ length: t.web }, () => spawnRole('api', env, { cpuProfDir: profile ? profDir : undefined })),
      ...Array.from({ length: t.worker }, () => spawnRole('worker', env, { cpuProfDir: profile ? profDir : undefined })),
      ...Array.from({ length: t.fanout }, () => spawnRole('fanout', env)),
    ]);
    procs.push(...started);
    const webs = started.slice(0, t.web);
    const fanouts = started.slice(t.web + t.worker);

    // Subscribers: one clock (this process) from send to receipt, keyed by client_id.
    const sentAt = new Map<string, number>();
    const delivered: number[] = [];
    const onMessage = (data: Buffer) => {
      const e = JSON.parse(data.toString()) as { type: string; data: { client_id: string } };
      if (e.type !== 'message.created') return;
      const t0 = sentAt.get(e.data.client_id);
      if (t0 !== undefined) delivered.push(performance.now() - t0);
    };
    for (let i = 0; i < subscribers; i++) {
      const f = fanouts[i % fanouts.length];
      sockets.push(
        ...(await connectMany(() => `${f.url.replace('http', 'ws')}/api/v1/ws?access_token=${seeded.users[i % seeded.users.length].token}`, 1, onMessage)),
      );
    }
    const send = (i: number, tag: string) =>
      httpRequest(
        `${webs[i % webs.length].url}/api/v1/chats/${seeded.chats[i % seeded.chats.length]}/messages`,
        'POST',
        { authorization: `Bearer ${seeded.users[(i >> 3) % seeded.users.length].token}` },
        JSON.stringify({ content: `hello ${i}`, client_id: `${tag}-${i}` }),
      );
    const stored = async () => Number((await deps.db('messages').where('workspace_id', seeded.workspace).count({ n: '*' }))[0].n);
    await load({ concurrency: 4, seconds: 0.5, fire: (i) => send(i, 'warm') });
    await sleep(500);

    // 1. Closed-loop send; persisted = stored / (first send -> last stored).
    options.log(`topology ${topologyName(t)}: closed-loop send, ${seconds} s at concurrency ${concurrency}`);
    const base = await stored();
    const t0 = performance.now();
    const sendResult = await load({ concurrency, seconds, fire: (i) => send(i, 'c') });
    const target = base + sendResult.requests;
    const deadline = performance.now() + 60_000;
    while ((await stored()) < target && performance.now() < deadline) await sleep(20);
    const persistSeconds = (performance.now() - t0) / 1000;
    const persisted = (await stored()) - base;
    await sleep(1000);

    // 2. Open-loop at `rate` msg/s: send -> delivery on every subscriber socket.
    options.log(`topology ${topologyName(t)}: ${rate} msg/s for ${seconds} s, delivery latency to ${subscribers} sockets`);
    delivered.length = 0;
    const accept = await load({
      concurrency,
      seconds,
      ratePerSecond: rate,
      fire: (i) => {
        sentAt.set(`d-${i}`, performance.now());
        return send(i, 'd');
      },
    });
    const expected = accept.requests * subscribers;
    const waitUntil = performance.now() + 15_000;
    while (delivered.length < expected && performance.now() < waitUntil) await sleep(50);
    const delivery = summarize(delivered, 0, seconds);
    return {
      send: sendResult,
      persisted_per_s: Math.round(persisted / persistSeconds),
      persisted,
      persist_seconds: round(persistSeconds),
      accept,
      delivery: { ...delivery, offered_rps: rate, missing: expected - delivered.length },
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
    },
  ];
}

/** Without --topology: 1web,1worker,1fanout alone ("e2e"); with it: 1,1,1 next to the requested one. */
export async function run(options: BenchOptions): Promise<BenchRow[]> {
  const profile = options.args.profile === true;
  const one: Topology = { web: 1, worker: 1, fanout: 1 };
  const requested = typeof options.args.topology === 'string' ? parseTopology(options.args.topology) : undefined;
  const baseResult = await runOne(options, one, profile && !requested);
  if (!requested) return rowsOf(topologyName(one), baseResult);
  const result = await runOne(options, requested, profile);
  return [
    ...rowsOf(topologyName(one), baseResult).map((r) => ({ ...r, bench: 'topology' })),
    ...rowsOf(topologyName(requested), result, { name: topologyName(one), r: baseResult }),
  ];
}
