// History pages (not a test; `npm run bench -- --only history`): GET /chats/:cid/messages?limit=50
// through the API, first closed-loop to find its peak, then open-loop at half that rate for the
// p99 target. The baseline is a bare Koa endpoint running the same plain indexed SELECT
// (chat_id, seq) on the same pool, measured the same two ways.
import type { Knex } from 'knex';
import { startRole } from '../src/roles.js';
import { bareKoa, benchDeps, benchEnv, httpRequest, load, resetAgent, round, seedWorkspace, type BenchOptions, type BenchRow } from './lib.js';

const PAGE = 50;

async function seedMessages(db: Knex, workspace: string, chats: string[], senders: string[], perChat: number): Promise<void> {
  for (const chat of chats) {
    await db.raw(
      // rendered: what the persist worker stores for this plain text (renderMarkdown).
      `insert into messages (id, chat_id, workspace_id, seq, sender_id, client_id, content, rendered, published_at)
       select gen_random_uuid(), ?, ?, s, ?, 'h-' || s, t.content, '<p>' || t.content || '</p>', now()
         from generate_series(1, ?) as s, lateral (select 'history message number ' || s || ' with some words in it' as content) t`,
      [chat, workspace, senders[0], perChat],
    );
    await db('chats').where({ id: chat }).update({ last_seq: perChat });
  }
  await db.raw('analyze messages');
}

export async function run(options: BenchOptions & { concurrency?: number }): Promise<BenchRow[]> {
  const seconds = options.quick ? 2 : 5;
  const concurrency = options.concurrency ?? 32;
  const { deps, close } = await benchDeps(benchEnv(options.services, { REDIS_PREFIX: `bhist${Date.now().toString(36)}` }));
  try {
    const seeded = await seedWorkspace(deps.db, deps.tokens, { users: 8, chats: 8, tag: 'history' });
    const perChat = options.quick ? 5_000 : 25_000;
    options.log(`history: seeding ${perChat * seeded.chats.length} messages`);
    await seedMessages(
      deps.db,
      seeded.workspace,
      seeded.chats,
      seeded.users.map((u) => u.id),
      perChat,
    );
    // Pages at random depths: the newest page and pages further back (`before`).
    const pageQuery = (i: number) => (i % 4 === 0 ? '' : `&before=${1 + ((i * 7919) % perChat)}`);

    const bare = await bareKoa(async (ctx) => {
      const chat = seeded.chats[Number(ctx.query.c)];
      const q = deps
        .db('messages')
        .where('chat_id', chat)
        .select('id', 'chat_id', 'workspace_id', 'seq', 'sender_id', 'client_id', 'content', 'reply_to', 'created_at', 'edited_at', 'deleted_at');
      if (ctx.query.before) q.where('seq', '<', Number(ctx.query.before));
      ctx.body = { items: await q.orderBy('seq', 'desc').limit(PAGE + 1) };
    });
    const bareFire = (i: number) => httpRequest(`${bare.url}/?c=${i % seeded.chats.length}${pageQuery(i)}`, 'GET', {});
    options.log('history: bare Koa + SELECT, peak and half of peak');
    const barePeak = await load({ concurrency, seconds, fire: bareFire });

    const api = await startRole('api', deps);
    const apiFire = (i: number) =>
      httpRequest(`${api.url}/api/v1/chats/${seeded.chats[i % seeded.chats.length]}/messages?limit=${PAGE}${pageQuery(i)}`, 'GET', {
        authorization: `Bearer ${seeded.users[i % seeded.users.length].token}`,
      });
    await load({ concurrency: 4, seconds: 0.5, fire: apiFire });
    options.log('history: GET /chats/:cid/messages, peak and half of peak');
    const peak = await load({ concurrency, seconds, fire: apiFire });
    const rate = Math.max(10, Math.round(peak.rps / 2));
    const half = await load({ concurrency, seconds, ratePerSecond: rate, fire: apiFire });
    const bareHalf = await load({ concurrency, seconds, ratePerSecond: rate, fire: bareFire });
    resetAgent();
    await api.stop();
    await bare.close();
    return [
      {
        bench: 'history',
        case: `GET /chats/:cid/messages?limit=${PAGE}, peak`,
        result: { ...peak, concurrency },
        baseline: { case: 'bare Koa + indexed SELECT, peak', result: { ...barePeak, concurrency } },
      },
      {
        bench: 'history',
        case: `GET /chats/:cid/messages at 50% of peak (${rate}/s)`,
        result: { ...half, offered_rps: rate },
        baseline: { case: `bare Koa + indexed SELECT at ${rate}/s`, result: { ...bareHalf, offered_rps: rate } },
        target: { text: 'p99 < 25 ms', met: half.p99_ms < 25 },
        note: `${perChat * seeded.chats.length} messages in ${seeded.chats.length} chats; ${round((peak.rps / barePeak.rps) * 100, 0)}% of the bare peak`,
      },
    ];
  } finally {
    await close();
  }
}
