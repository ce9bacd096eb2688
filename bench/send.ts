// The message write path (not a test; run by bench/run.ts, `npm run bench -- --only send`):
//   send:    202 throughput and latency of POST /chats/:cid/messages at fixed concurrency, next to
//            a bare Koa endpoint that parses the same JSON (the floor of HTTP + JSON here), and
//            next to bare Koa that also adds the job to BullMQ (the floor of any queued 202);
//            then its p99 at half of its peak rate (open loop);
//   persist: accepted -> stored throughput of the persist worker draining those jobs, next to a
//            plain loop of single-row INSERTs into the messages table.
// The API and the worker run in this process, like the bare endpoint, so both sides of each
// comparison share the CPU with the load generator the same way.
import { Queue } from 'bullmq';
import getRawBody from 'raw-body';
import { v7 as uuidv7 } from 'uuid';
import { acceptMessage } from '../src/domain/messages.js';
import { defaultJobOptions } from '../src/infra/queues.js';
import { metrics } from '../src/observability/metrics.js';
import { startRole } from '../src/roles.js';
import { startWorkers } from '../workers/index.js';
import { persistConcurrency } from '../workers/persist.js';
import {
  bareKoa,
  redisCommands,
  benchDeps,
  benchEnv,
  httpRequest,
  load,
  profiled,
  profileDir,
  resetAgent,
  round,
  seedWorkspace,
  sleep,
  type BenchOptions,
  type BenchRow,
} from './lib.js';

export async function run(options: BenchOptions & { concurrency?: number }): Promise<BenchRow[]> {
  const seconds = options.quick ? 2 : 5;
  const concurrency = options.concurrency ?? 32;
  const drainJobs = options.quick ? 2000 : 5000;
  const insertRows = options.quick ? 300 : 1000;
  const { config, deps, close } = await benchDeps(
    benchEnv(options.services, { REDIS_PREFIX: `bsend${Date.now().toString(36)}`, WORKER_QUEUES: 'persist', DB_POOL_MAX: '10' }),
  );
  try {
    const seeded = await seedWorkspace(deps.db, deps.tokens, { users: 8, chats: 8, tag: 'send' });
    const { chats, users } = seeded;

    // Floor: bare Koa reading and parsing the same JSON body, answering 202 with a small JSON.
    const bare = await bareKoa(async (ctx) => {
      const parsed = JSON.parse(await getRawBody(ctx.req, { encoding: 'utf8', limit: 65536 })) as { client_id: string };
      ctx.status = 202;
      ctx.body = { id: uuidv7(), client_id: parsed.client_id, status: 'accepted' };
    });
    options.log(`send: bare Koa, ${seconds} s at concurrency ${concurrency}`);
    const floor = await load({
      concurrency,
      seconds,
      fire: (i) => httpRequest(`${bare.url}/`, 'POST', { authorization: 'Bearer x' }, JSON.stringify({ content: `hello ${i}`, client_id: `bare-${i}` })),
    });
    resetAgent();
    await bare.close();

    // Floor of the design: the same, plus one BullMQ add of a job like the send's (to a scratch
    // queue), which is what "202: durably accepted" costs before any of Fechatter's own work.
    const scratch = new Queue('bench-floor', { connection: deps.redis, prefix: deps.keys.bull, defaultJobOptions });
    const queuedKoa = await bareKoa(async (ctx) => {
      const parsed = JSON.parse(await getRawBody(ctx.req, { encoding: 'utf8', limit: 65536 })) as { content: string; client_id: string };
      const id = uuidv7();
      await scratch.add('create', { id, ...parsed, accepted_at: Date.now() }, { jobId: id });
      ctx.status = 202;
      ctx.body = { id, client_id: parsed.client_id, status: 'accepted' };
    });
    options.log(`send: bare Koa + BullMQ add, ${seconds} s at concurrency ${concurrency}`);
    const floorCmds0 = await redisCommands(deps.redis);
    const queuedFloor = await profiled(profileDir(options), 'send-floor', () =>
      load({
        concurrency,
        seconds,
        fire: (i) =>
          httpRequest(`${queuedKoa.url}/`, 'POST', { authorization: 'Bearer x' }, JSON.stringify({ content: `hello ${i}`, client_id: `floor-${i}` })),
      }),
    );
    const floorRedisPerReq = round(((await redisCommands(deps.redis)) - floorCmds0 - 1) / Math.max(1, queuedFloor.requests), 1);
    resetAgent();
    await queuedKoa.close();
    await scratch.obliterate({ force: true });
    await scratch.close();

    // The real endpoint: auth, limits, membership, idempotency, queue add. No worker yet: the
    // jobs pile up in Redis and the persist phase drains them.
    const api = await startRole('api', deps);
    const urls = chats.map((c) => `${api.url}/api/v1/chats/${c}/messages`);
    await load({
      concurrency: 4,
      seconds: 0.5,
      fire: (i) =>
        httpRequest(
          urls[i % urls.length],
          'POST',
          { authorization: `Bearer ${users[i % users.length].token}` },
          JSON.stringify({ content: `warm ${i}`, client_id: `w-${i}` }),
        ),
    });
    options.log(`send: POST /chats/:cid/messages, ${seconds} s at concurrency ${concurrency}`);
    const sendFire = (tag: string) => (i: number) =>
      httpRequest(
        urls[i % urls.length],
        'POST',
        { authorization: `Bearer ${users[i % users.length].token}` },
        JSON.stringify({ content: `hello ${i}`, client_id: `${tag}-${i}` }),
      );
    const cmds0 = await redisCommands(deps.redis);
    const send = await profiled(profileDir(options), 'send', () => load({ concurrency, seconds, fire: sendFire('c') }));
    const redisPerReq = round(((await redisCommands(deps.redis)) - cmds0 - 1) / Math.max(1, send.requests), 1);
    const rate = Math.max(10, Math.round(send.rps / 2));
    options.log(`send: POST /chats/:cid/messages at half of peak (${rate}/s)`);
    const half = await load({ concurrency, seconds, ratePerSecond: rate, fire: sendFire('h') });
    resetAgent();
    await api.stop();
    const ratio = send.rps / floor.rps;
    const queuedRatio = send.rps / queuedFloor.rps;
    const rows: BenchRow[] = [
      {
        bench: 'send',
        case: 'POST /chats/:cid/messages (202)',
        result: { ...send, concurrency, redis_cmds_per_req: redisPerReq },
        baseline: { case: 'bare Koa + JSON parse', result: { ...floor, concurrency } },
        target: { text: '>= 80% of bare Koa + BullMQ add and >= 55% of bare Koa', met: queuedRatio >= 0.8 && ratio >= 0.55 },
        note: `${Math.round(queuedRatio * 100)}% of bare Koa + BullMQ add`,
      },
      {
        bench: 'send',
        case: `POST /chats/:cid/messages at 50% of peak (${rate}/s)`,
        result: { ...half, offered_rps: rate },
        target: { text: 'p99 < 15 ms', met: half.p99_ms < 15 },
      },
      {
        bench: 'send',
        case: 'bare Koa + JSON parse + BullMQ add (the floor of a queued 202)',
        result: { ...queuedFloor, concurrency, redis_cmds_per_req: floorRedisPerReq },
        baseline: { case: 'bare Koa + JSON parse', result: { ...floor, concurrency } },
      },
    ];

    // Persist: top the queue up to drainJobs through the same domain call the route uses.
    let queued = Number(await deps.queues.persist.getWaitingCount());
    let next = 0;
    const topUp = Math.max(0, drainJobs - queued);
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < topUp) {
          const i = next++;
          await acceptMessage(deps, users[i % users.length].id, chats[i % chats.length], { content: `top-up ${i}`, client_id: `t-${i}` });
        }
      }),
    );
    queued = Number(await deps.queues.persist.getWaitingCount());
    const stored = async () => Number((await deps.db('messages').where('workspace_id', seeded.workspace).count({ n: '*' }))[0].n);
    const before = await stored();
    const batchesBefore = await batchStats();
    options.log(`persist: draining ${queued} jobs`);
    const t0 = performance.now();
    const workers = await startWorkers(deps);
    const deadline = t0 + 60_000;
    await profiled(profileDir(options), 'persist', async () => {
      while ((await stored()) - before < queued && performance.now() < deadline) await sleep(20);
    });
    const drainSeconds = (performance.now() - t0) / 1000;
    const persisted = (await stored()) - before;
    await workers.close();
    const batchesAfter = await batchStats();
    const meanBatch = (batchesAfter.sum - batchesBefore.sum) / Math.max(1, batchesAfter.count - batchesBefore.count);

    // Floor: a plain loop of single-row INSERTs (autocommit each) into messages.
    const [{ workspace_id: workspaceId, last_seq: lastSeq }] = await deps.db('chats').where({ id: chats[0] }).select('workspace_id', 'last_seq');
    const t1 = performance.now();
    for (let i = 1; i <= insertRows; i++) {
      await deps.db('messages').insert({
        id: uuidv7(),
        chat_id: chats[0],
        workspace_id: workspaceId,
        seq: Number(lastSeq) + i,
        sender_id: users[0].id,
        client_id: `loop-${i}`,
        content: `hello ${i}`,
      });
    }
    const loopSeconds = (performance.now() - t1) / 1000;
    rows.push({
      bench: 'persist',
      case: 'persist worker (group commit)',
      result: {
        rps: Math.round(persisted / drainSeconds),
        requests: persisted,
        errors: queued - persisted,
        seconds: round(drainSeconds),
        mean_batch: round(meanBatch, 1),
        worker_concurrency: persistConcurrency(config),
      },
      baseline: { case: 'single-row INSERT loop', result: { rps: Math.round(insertRows / loopSeconds), requests: insertRows, seconds: round(loopSeconds) } },
      note: 'rps = messages stored per second',
    });
    return rows;
  } finally {
    await close();
  }
}

async function batchStats(): Promise<{ sum: number; count: number }> {
  const values = (await metrics.persistBatchSize.get()).values;
  return { sum: values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0, count: values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0 };
}
